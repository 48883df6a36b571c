import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { canRunNetnsTests, createNetnsFixture, namespacesWithPrefix, threadNetns } from '@ambit/core/testing';
import { closeFd, createSocket, openNetns, type CreateSocketOptions } from './index.ts';

const ROUNDS = 2000;
const fx = createNetnsFixture();
let aFd = -1;

before(() => {
  if (process.getuid?.() !== 0) return;
  fx.add('a');
  aFd = openNetns(fx.path('a'));
});

after(() => {
  if (aFd >= 0) closeFd(aFd);
  fx.cleanup();
  if (process.getuid?.() === 0) assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
});

/** Mean µs per createSocket + closeFd, after a warm-up. */
function microsPerSocket(options: CreateSocketOptions): number {
  for (let i = 0; i < 100; i++) closeFd(createSocket(options));
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) closeFd(createSocket(options));
  return Number(process.hrtime.bigint() - start) / 1000 / ROUNDS;
}

test('cost of creating a socket inside another namespace', (t) => {
  if (!canRunNetnsTests(t)) return;
  const home = threadNetns();
  const here = microsPerSocket({ family: 4, mark: 0x539 });
  const there = microsPerSocket({ netnsFd: aFd, family: 4, mark: 0x539 });
  const listener = microsPerSocket({ netnsFd: aFd, family: 4, listen: { address: '127.0.0.1', port: 0 } });
  assert.equal(threadNetns(), home);
  t.diagnostic(
    `createSocket+closeFd µs/socket: own namespace ${here.toFixed(1)}, other namespace ${there.toFixed(1)}, ` +
      `other namespace bound+listening ${listener.toFixed(1)} (${ROUNDS} rounds)`,
  );
  // Generous: a real regression (e.g. a namespace switch that sleeps) is orders of magnitude slower.
  assert.ok(there < 1000, `${there} µs per socket`);
});
