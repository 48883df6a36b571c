// A stand-in waypoint for ztunnel tests, run as its own process inside a network namespace that ztunnel does not
// capture (contract 4): it terminates HBONE on <ip>:15008 with its own certificate from the (fake) CA, prints one JSON
// line per tunnel (the :authority and the client's SPIFFE ID, what the real waypoint routes and logs by), and carries
// the bytes on over HBONE to the endpoint `routes` maps the authority to (pod IP:port authorities go as they are), as
// the real waypoint does at L4. It stands in for @ambit/waypoint so ztunnel's side can be tested on its own.
//   node --import tsx l4-waypoint.ts <ip> <ca-target> <token> <identity> <routes JSON {"vip:port":"podIp:port"}> <peer ids JSON {"podIp":"spiffe id"}>
import { createSecureServer } from 'node:http2';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { silentLogger } from '@ambit/core';
import { createHbonePool, parseIpAuthority, relay, SERVER_SOCKET_TLS, serverContextOptions, verifyClientIdentity } from '@ambit/core/hbone';
import { createCaClient } from '@ambit/core/identity';

const [ip, caTarget, token, identity, routesJson, peersJson] = process.argv.slice(2);
if (
  ip === undefined ||
  caTarget === undefined ||
  token === undefined ||
  identity === undefined ||
  routesJson === undefined ||
  peersJson === undefined
) {
  process.stderr.write('usage: l4-waypoint.ts <ip> <ca-target> <token> <identity> <routes JSON> <peer ids JSON>\n');
  process.exit(2);
}
const routes = JSON.parse(routesJson) as Record<string, string>;
const peers = JSON.parse(peersJson) as Record<string, string>;
const log = silentLogger();

const fetched = await createCaClient({ target: caTarget, token: () => token }).fetchCertificate(identity);
const cert = { key: fetched.keyPem, certChain: [fetched.certPem, ...fetched.chainPems] };
const roots = [fetched.rootPem];
const pool = createHbonePool({
  connect: (hop) => connect({ host: hop.host, port: hop.port, allowHalfOpen: true }),
  certFor: () => Promise.resolve(cert),
  roots: () => roots,
  log,
});
// Its own HTTP/2 CONNECT server, not core's: that one takes only tunnels to its own address (a destination ztunnel),
// while a waypoint takes any :authority.
const server = createSecureServer({ ...serverContextOptions(cert, roots), ...SERVER_SOCKET_TLS, allowHalfOpen: true });
server.on('stream', (stream, headers) => {
  const authority = String(headers[':authority'] ?? '');
  const peer = verifyClientIdentity(identity.split('/')[2] ?? 'cluster.local', (stream.session?.socket as TLSSocket).getPeerCertificate());
  process.stdout.write(`${JSON.stringify({ authority, peer })}\n`);
  const to = routes[authority] ?? authority;
  const endpoint = parseIpAuthority(to);
  if (endpoint === undefined) {
    stream.respond({ ':status': 400 }, { endStream: true });
    return;
  }
  pool
    .open({
      srcIdentity: identity,
      dstIdentities: [peers[endpoint.host] ?? ''],
      nextHop: { host: endpoint.host, port: 15008 },
      authority: to,
    })
    .then(
      (upstream) => {
        stream.respond({ ':status': 200 });
        relay(stream, upstream, () => undefined);
      },
      () => stream.respond({ ':status': 503 }, { endStream: true }),
    );
});
server.on('sessionError', () => undefined);
server.listen(15008, ip, () => process.stdout.write('up\n'));
process.on('SIGTERM', () => {
  server.close();
  void pool.close().then(() => process.exit(0));
});
