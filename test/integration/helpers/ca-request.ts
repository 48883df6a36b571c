// Asks the mesh CA for one certificate and prints the outcome as one JSON line; run by a test inside a node's network
// namespace (`ip netns exec`), where the controller's Service is reachable, as a ztunnel there would ask:
//   node --import tsx ca-request.ts TARGET SERVER_NAME ROOT_FILE TOKEN_FILE IDENTITY [OUT_PREFIX]
// stdout: {"ok":true,"notAfter":"…"} or {"ok":false,"error":"…"}; exit code 0 either way (2 on bad arguments). With
// OUT_PREFIX the certificate (with its chain) and key are written to OUT_PREFIX-cert.pem and OUT_PREFIX-key.pem.
import { readFileSync, writeFileSync } from 'node:fs';
import { createCaClient } from '@ambit/core/identity';

const [target, serverName, rootFile, tokenFile, identity, outPrefix] = process.argv.slice(2);
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
  const cert = await ca.fetchCertificate(identity, 600);
  if (outPrefix !== undefined) {
    writeFileSync(`${outPrefix}-cert.pem`, [cert.certPem, ...cert.chainPems].join('\n'));
    writeFileSync(`${outPrefix}-key.pem`, cert.keyPem, { mode: 0o600 });
  }
  process.stdout.write(`${JSON.stringify({ ok: true, notAfter: cert.notAfter.toISOString() })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) })}\n`);
} finally {
  ca.close();
}
