// Asks the mesh CA for one certificate and prints the outcome as one JSON line; run by a test inside a node's network
// namespace (`ip netns exec`), where the controller's Service is reachable, as a ztunnel there would ask:
//   node --import tsx ca-request.ts TARGET SERVER_NAME ROOT_FILE TOKEN_FILE IDENTITY
// stdout: {"ok":true,"notAfter":"…"} or {"ok":false,"error":"…"}; exit code 0 either way (2 on bad arguments).
import { readFileSync } from 'node:fs';
import { createCaClient } from '@ambit/core/identity';

const [target, serverName, rootFile, tokenFile, identity] = process.argv.slice(2);
if (target === undefined || serverName === undefined || rootFile === undefined || tokenFile === undefined || identity === undefined) {
  process.stderr.write('usage: ca-request.ts TARGET SERVER_NAME ROOT_FILE TOKEN_FILE IDENTITY\n');
  process.exit(2);
}
const ca = createCaClient({
  target,
  tls: { ca: readFileSync(rootFile, 'utf8'), serverName },
  token: () => readFileSync(tokenFile, 'utf8').trim(),
});
try {
  const cert = await ca.fetchCertificate(identity, 60);
  process.stdout.write(`${JSON.stringify({ ok: true, notAfter: cert.notAfter.toISOString() })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) })}\n`);
} finally {
  ca.close();
}
