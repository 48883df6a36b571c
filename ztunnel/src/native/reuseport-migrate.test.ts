// Why the node agent sets net.ipv4.tcp_migrate_req=1 in every captured pod (contract 7): during a ztunnel rolling
// update the old and the new ztunnel both listen on the pod's ports with SO_REUSEPORT, and the old one then closes its
// listeners. Connections the kernel had already queued on them (handshake done, not yet accepted) are reset unless
// tcp_migrate_req moves them to another listener of the group. Both cases are shown here with real listeners in a
// real namespace: the listener being closed is never accepted from, so every connection hashed to it is still queued.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { canRunNetnsTests, createNetnsFixture, namespacesWithPrefix } from '@ambit/core/testing';
import { closeFd, connectFromNetns, createSocket, openNetns } from './index.ts';

const fx = createNetnsFixture('tzm');
let nsFd = -1;
const CONNECTIONS = 20;

before(() => {
  if (process.getuid?.() !== 0) return;
  fx.add('a');
  nsFd = openNetns(fx.path('a'));
});

after(() => {
  if (nsFd >= 0) closeFd(nsFd);
  fx.cleanup();
  if (process.getuid?.() === 0) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

/** The port a listening fd got (the addon has no getsockname); the fd is closed, leaving the port free in the namespace. */
async function freePort(fd: number): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen({ fd }, resolve));
  const address = probe.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return address.port;
}

interface Outcome {
  /** Connections that got their echo back through the listener that stayed. */
  readonly echoed: number;
  /** Connections reset (or closed without an answer). */
  readonly lost: number;
}

/**
 * Two SO_REUSEPORT listeners on one port ("old" and "new" ztunnel); CONNECTIONS connections are made, and the kernel
 * spreads them over both queues (by 4-tuple hash). Then "old" is closed without having accepted anything, "new" starts
 * accepting and echoing, and every client writes a line and waits for the echo.
 */
async function handOver(migrate: 0 | 1): Promise<Outcome> {
  fx.exec('a', ['sysctl', '-q', '-w', `net.ipv4.tcp_migrate_req=${migrate}`]);
  assert.equal(fx.exec('a', ['sysctl', '-n', 'net.ipv4.tcp_migrate_req']).trim(), String(migrate));
  const listen = (port: number): number =>
    createSocket({ netnsFd: nsFd, family: 4, listen: { address: '127.0.0.1', port, reusePort: true, backlog: 64 } });
  const port = await freePort(listen(0));
  const oldListener = listen(port);
  const newFd = listen(port);
  const newServer = net.createServer({ allowHalfOpen: true });
  const clients: net.Socket[] = [];
  try {
    for (let i = 0; i < CONNECTIONS; i++) clients.push(await connectFromNetns(nsFd, { host: '127.0.0.1', port }));
    // Closing "old": its queued connections are migrated (1) or reset (0).
    closeFd(oldListener);
    newServer.on('connection', (s: net.Socket) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((resolve) => newServer.listen({ fd: newFd }, resolve));
    const results = await Promise.all(
      clients.map(
        (c, i) =>
          new Promise<boolean>((resolve) => {
            let got = '';
            c.on('data', (d: Buffer) => {
              got += d.toString();
              if (got === `ping ${i}\n`) resolve(true);
            });
            c.on('error', () => resolve(false));
            c.on('close', () => resolve(false));
            c.write(`ping ${i}\n`);
          }),
      ),
    );
    const echoed = results.filter((ok) => ok).length;
    return { echoed, lost: results.length - echoed };
  } finally {
    for (const c of clients) c.destroy();
    await new Promise<void>((resolve) => newServer.close(() => resolve()));
  }
}

test('tcp_migrate_req=0: closing one SO_REUSEPORT listener resets the connections queued on it', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const { echoed, lost } = await handOver(0);
  t.diagnostic(`echoed ${echoed}, lost ${lost} of ${CONNECTIONS}`);
  // The hash puts each connection on either queue; all 20 on the same one would happen once in 2^19 runs.
  assert.ok(lost > 0, 'some connections were queued on the closed listener and were reset');
  assert.equal(echoed + lost, CONNECTIONS);
});

test('tcp_migrate_req=1: the connections queued on the closed listener move to the one that stays', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const { echoed, lost } = await handOver(1);
  assert.equal(lost, 0, 'no connection was reset');
  assert.equal(echoed, CONNECTIONS);
});
