// The server side of the connection benchmarks (bench/l4.bench.ts), run in the server pod: a plain node:net server
// on PORT that echoes whatever arrives and holds every connection until the client closes it.
//   conn-server.mjs PORT
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
const server = createServer({ allowHalfOpen: false, noDelay: true }, (s) => {
  s.on('data', (d) => s.write(d));
  s.on('error', () => s.destroy());
});
server.maxConnections = 100_000;
server.listen(port, () => console.log(`listening ${port}`));
