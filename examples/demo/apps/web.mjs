// The demo's frontend: on every request it calls the `api` Service and shows the answer, so one curl exercises
// pod → Service → pod across nodes.
import { createServer, get } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const apiUrl = process.env.API_URL ?? 'http://api/';

function callApi() {
  return new Promise((resolve, reject) => {
    const req = get(apiUrl, { timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('api timed out')));
    req.on('error', reject);
  });
}

const server = createServer(async (req, res) => {
  let api;
  try {
    const r = await callApi();
    api = r.status === 200 ? JSON.parse(r.body) : { error: `api answered ${r.status}` };
  } catch (err) {
    api = { error: err.message };
  }
  const body = JSON.stringify({ web: process.env.POD_NAME ?? process.env.HOSTNAME, api }) + '\n';
  res.writeHead(api.error ? 502 : 200, { 'content-type': 'application/json' });
  res.end(body);
});
server.listen(port, () => console.log(`web listening on :${port}, calling ${apiUrl}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
