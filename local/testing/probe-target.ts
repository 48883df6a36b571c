// A probe target for the prober tests, run with plain `node` inside a pod's network namespace:
//   node probe-target.ts --state DIR [--http PORT] [--grpc PORT]
// Its health is a file: while DIR/ready exists, HTTP answers 200 and gRPC health SERVING; otherwise 503 and
// NOT_SERVING, so a test flips readiness with a touch or an rm. GET /redirect answers 302, GET /slow never answers. Each HTTP request's
// headers are written to DIR/last-request.json. gRPC speaks grpc.health.v1.Health/Check over h2c (hand-framed:
// no dependency), answers NOT_FOUND for the service "unknown" and UNIMPLEMENTED for any other method.
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { state: { type: 'string' }, http: { type: 'string' }, grpc: { type: 'string' } } });
const dir = values.state;
if (dir === undefined) {
  process.stderr.write('usage: probe-target.ts --state DIR [--http PORT] [--grpc PORT]\n');
  process.exit(2);
}
const ready = (): boolean => existsSync(join(dir, 'ready'));

if (values.http !== undefined) {
  http
    .createServer((req, res) => {
      writeFileSync(join(dir, 'last-request.json'), JSON.stringify({ url: req.url, headers: req.headers }));
      if (req.url === '/slow') return; // never answers: the prober's timeout must end it
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://elsewhere.example/' }).end('moved');
        return;
      }
      res.writeHead(ready() ? 200 : 503).end(ready() ? 'ok' : 'not ready');
    })
    .listen(Number(values.http), '0.0.0.0');
}

if (values.grpc !== undefined) {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      // HealthCheckRequest: field 1 (service), a length-delimited string, after the 5-byte gRPC prefix.
      const service = body.length > 7 && body[5] === 0x0a ? body.subarray(7, 7 + (body[6] ?? 0)).toString('utf8') : '';
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => {
        if (headers[':path'] !== '/grpc.health.v1.Health/Check')
          stream.sendTrailers({ 'grpc-status': '12', 'grpc-message': 'unknown method' });
        else if (service === 'unknown') stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'unknown service' });
        else stream.sendTrailers({ 'grpc-status': '0' });
      });
      if (headers[':path'] === '/grpc.health.v1.Health/Check' && service !== 'unknown') {
        // HealthCheckResponse{status}: SERVING 1, NOT_SERVING 2.
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, ready() ? 1 : 2]));
      } else {
        stream.end();
      }
    });
  });
  server.listen(Number(values.grpc), '0.0.0.0');
}

process.once('SIGTERM', () => process.exit(0));
