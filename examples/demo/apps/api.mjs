// The demo's backend: answers every HTTP request with who served it, so a user can watch requests spread across
// the api-v1 and api-v2 Deployments behind the `api` Service.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const me = {
  service: 'api',
  version: process.env.VERSION ?? 'unknown',
  pod: process.env.POD_NAME ?? process.env.HOSTNAME ?? 'unknown',
  node: process.env.NODE_NAME ?? 'unknown',
};

const server = createServer((req, res) => {
  const body = JSON.stringify({ ...me, path: req.url, from: req.socket.remoteAddress });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(port, () => console.log(`api ${me.version} listening on :${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
