// A raw TCP service (no HTTP): echoes what it receives, prefixed once with a greeting naming the pod. Half-close
// aware: when the client stops sending, the echo finishes and then closes, so `nc -N` sees the whole reply.
import { createServer } from 'node:net';

const port = Number(process.env.PORT ?? 9000);
const pod = process.env.POD_NAME ?? process.env.HOSTNAME ?? 'unknown';

const server = createServer({ allowHalfOpen: true }, (socket) => {
  socket.write(`hello from ${pod}\n`);
  socket.pipe(socket);
  socket.on('error', () => socket.destroy());
});
server.listen(port, () => console.log(`tcp-echo listening on :${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
