import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import { hasCode } from '../errors.ts';
import { formatHostPort, parseIpAuthority, unmapIp } from './h2-util.ts';
import { createTestPki, idOf, listen } from '../../testing/hbone-harness.ts';
import {
  clientTlsOptions,
  serverContextOptions,
  SERVER_SOCKET_TLS,
  uriSansOf,
  verifyClientIdentity,
  verifyServerIdentity,
} from './tls-config.ts';

const cert = (subjectaltname: string): PeerCertificate => ({ subjectaltname }) as PeerCertificate;

test('uriSansOf reads URI SANs from Node text, including JSON-quoted values', () => {
  assert.deepEqual(uriSansOf(cert('URI:spiffe://cluster.local/ns/a/sa/b')), ['spiffe://cluster.local/ns/a/sa/b']);
  assert.deepEqual(uriSansOf(cert('DNS:x.example, URI:spiffe://td/ns/a/sa/b, IP Address:10.0.0.1')), ['spiffe://td/ns/a/sa/b']);
  // Node's own rendering of a SAN holding ", " (checked against a certificate from our CA code).
  assert.deepEqual(uriSansOf(cert('URI:"spiffe://td/ns/a\\u002c URI:fake/sa/b", URI:spiffe://td/ns/c/sa/d')), [
    'spiffe://td/ns/a, URI:fake/sa/b',
    'spiffe://td/ns/c/sa/d',
  ]);
  assert.deepEqual(uriSansOf({ subjectaltname: undefined } as unknown as PeerCertificate), []);
});

test('server identity must be one of the expected SPIFFE IDs', () => {
  const id = idOf('server');
  assert.equal(verifyServerIdentity([idOf('x'), id], cert(`URI:${id}`)), undefined);
  const err = verifyServerIdentity([idOf('x')], cert(`URI:${id}`));
  assert.ok(hasCode(err, 'PEER_IDENTITY_MISMATCH'));
  assert.ok(hasCode(verifyServerIdentity([id], cert('DNS:server')), 'PEER_IDENTITY_MISMATCH'));
});

test('client identity: exactly one SPIFFE URI SAN in our trust domain', () => {
  assert.equal(verifyClientIdentity('cluster.local', cert(`URI:${idOf('c')}`)), idOf('c'));
  for (const bad of [`URI:${idOf('c', 'other.td')}`, `URI:${idOf('c')}, URI:${idOf('d')}`, 'DNS:c', 'URI:https://example.com/x', '']) {
    assert.throws(
      () => verifyClientIdentity('cluster.local', cert(bad)),
      (e) => hasCode(e, 'PEER_IDENTITY_INVALID'),
      bad,
    );
  }
});

test('authority parsing and address helpers', () => {
  assert.deepEqual(parseIpAuthority('10.0.0.1:8080'), { host: '10.0.0.1', port: 8080 });
  assert.deepEqual(parseIpAuthority('[fd00::1]:80'), { host: 'fd00::1', port: 80 });
  for (const bad of ['10.0.0.1', 'svc.ns:80', '10.0.0.1:0', '10.0.0.1:70000', 'fd00::1:80', '999.0.0.1:80', '']) {
    assert.equal(parseIpAuthority(bad), undefined, bad);
  }
  assert.equal(formatHostPort('fd00::1', 15008), '[fd00::1]:15008');
  assert.equal(formatHostPort('10.0.0.1', 15008), '10.0.0.1:15008');
  assert.equal(unmapIp('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(unmapIp('::1'), '::1');
});

test('client and server negotiate TLS 1.3, an AES-GCM suite, ALPN h2, without SNI or resumption', async () => {
  const pki = await createTestPki();
  const serverCert = await pki.leaf(idOf('server'));
  const clientCert = await pki.leaf(idOf('client'));
  const tlsServer = createTlsServer({ ...serverContextOptions(serverCert, [pki.rootPem]), ...SERVER_SOCKET_TLS, ALPNProtocols: ['h2'] });
  const seen = new Promise<{ servername: unknown; peer: string; authorized: boolean }>((resolve) => {
    tlsServer.once('secureConnection', (s: TLSSocket) => {
      resolve({ servername: s.servername, peer: s.getPeerCertificate().subjectaltname ?? '', authorized: s.authorized });
      s.end();
    });
  });
  const l = await listen((s) => tlsServer.emit('connection', s));
  try {
    const sock = tlsConnect({
      socket: netConnect({ host: '127.0.0.1', port: l.port }),
      ...clientTlsOptions(clientCert, [pki.rootPem], [idOf('server')]),
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    assert.equal(sock.getProtocol(), 'TLSv1.3');
    assert.match(sock.getCipher().name, /^TLS_AES_(256_GCM_SHA384|128_GCM_SHA256)$/);
    assert.equal(sock.alpnProtocol, 'h2');
    assert.equal(sock.isSessionReused(), false);
    const s = await seen;
    assert.equal(s.servername, false, 'no SNI');
    assert.equal(s.authorized, true);
    assert.equal(s.peer, `URI:${idOf('client')}`);
    sock.destroy();
  } finally {
    await l.close();
  }
});
