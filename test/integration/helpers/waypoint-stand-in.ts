import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createCaClient, parseCertInfo } from '@ambit/core/identity';

// Runs in a waypoint pod in place of the waypoint (AMBIT_WAYPOINT_COMMAND), as a probe of what the deployer gives a
// waypoint: it takes the flags and environment a waypoint gets (contract 3), asks the controller's CA for its own
// identity with the credential it was given (contract 6: the projected token and the published root, or a minted
// AMBIT_CA_TOKEN when the controller serves a unix socket), says what it got and whether another identity is refused,
// then answers the Deployment's startup and readiness probes (`GET /healthz/ready` on 15021, in the pod's namespace,
// as the waypoint does once it has its certificate) and stays up.

const { values } = parseArgs({
  options: {
    controller: { type: 'string' },
    'gateway-name': { type: 'string' },
    'trust-domain': { type: 'string', default: 'cluster.local' },
    'ca-token-file': { type: 'string' },
    'root-cert-file': { type: 'string' },
    'exit-with-parent': { type: 'boolean' },
  },
  strict: true,
});
const env = process.env;
if (values['exit-with-parent'] === true) {
  // As the real waypoint: leave with the local runner rather than outlive its cluster.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}
const identity = `spiffe://${values['trust-domain'] ?? ''}/ns/${env['POD_NAMESPACE'] ?? ''}/sa/${env['SERVICE_ACCOUNT'] ?? ''}`;
process.stdout.write(`stand-in: gateway ${values['gateway-name'] ?? '?'} pod ${env['POD_NAME'] ?? '?'} ip ${env['POD_IP'] ?? '?'}\n`);
const target = values.controller ?? '';
const tokenFile = values['ca-token-file'];
const rootFile = values['root-cert-file'];
const client = createCaClient({
  target,
  // Over TCP the controller speaks TLS with a mesh certificate for its Service name, the host of --controller.
  ...(rootFile === undefined ? {} : { tls: { ca: readFileSync(rootFile, 'utf8'), serverName: target.replace(/:\d+$/, '') } }),
  token: () => (tokenFile === undefined ? (env['AMBIT_CA_TOKEN'] ?? '') : readFileSync(tokenFile, 'utf8').trim()),
});
try {
  const got = await client.fetchCertificate(identity);
  process.stdout.write(`stand-in: certificate for ${parseCertInfo(got.certPem).uriSans.join(',')}\n`);
  // The CA must refuse any other identity to this credential.
  await client.fetchCertificate(`spiffe://${values['trust-domain'] ?? ''}/ns/${env['POD_NAMESPACE'] ?? ''}/sa/default`).then(
    () => process.stdout.write('stand-in: WRONG: got a certificate for another identity\n'),
    (err: unknown) => process.stdout.write(`stand-in: other identity refused: ${err instanceof Error ? err.message : String(err)}\n`),
  );
} catch (err) {
  process.stdout.write(`stand-in: CA failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
} finally {
  client.close();
}
// This process runs inside the pod's network namespace, so the port is the pod's, as the waypoint's readiness port.
http
  .createServer((req, res) => res.writeHead(req.url === '/healthz/ready' ? 200 : 404).end())
  .listen(15021, '0.0.0.0', () => process.stdout.write('stand-in: ready on 15021\n'));
