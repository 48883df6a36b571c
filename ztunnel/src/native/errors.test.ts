import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { canRunNetnsTests, createNetnsFixture, namespacesWithPrefix, threadNetns, trackConnections } from '@ambit/core/testing';
import { closeFd, createSocket, isNativeSystemError, listenInNetns, openNetns, setMark, getMark } from './index.ts';

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

/** Runs `fn`, which must throw a system error with `code` from `syscall`, and checks the thread came home. */
function assertSystemError(fn: () => unknown, code: string, syscall: string): void {
  const home = threadNetns();
  assert.throws(fn, (err: unknown) => {
    assert.ok(isNativeSystemError(err, code), `expected ${code}, got ${String(err)}`);
    assert.equal(err.syscall, syscall);
    assert.ok(err.errno < 0);
    assert.match(err.message, new RegExp(`^${syscall} ${code} `));
    return true;
  });
  assert.equal(threadNetns(), home, 'the thread is back in its own namespace after a failure');
}

test('opening a missing namespace fails with ENOENT', (t) => {
  if (!canRunNetnsTests(t)) return;
  assertSystemError(() => openNetns(`/run/netns/${fx.prefix}missing`), 'ENOENT', 'open');
});

test('binding a port in use inside A fails with EADDRINUSE, and the thread returns home', async (t) => {
  if (!canRunNetnsTests(t)) return;
  const server = listenInNetns(aFd, { port: 0 });
  const conns = trackConnections(server);
  try {
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    assertSystemError(
      () => createSocket({ netnsFd: aFd, family: 4, listen: { address: '0.0.0.0', port: address.port, backlog: 16 } }),
      'EADDRINUSE',
      'bind',
    );
    assert.throws(() => listenInNetns(aFd, { port: address.port }), { code: 'EADDRINUSE' });
  } finally {
    await conns.close();
  }
});

test('a handle that is not a network namespace fails in setns (EINVAL); an invalid one with EBADF', (t) => {
  if (!canRunNetnsTests(t)) return;
  const devNull = openSync('/dev/null', 'r');
  try {
    assertSystemError(() => createSocket({ netnsFd: devNull, family: 4 }), 'EINVAL', 'setns');
  } finally {
    closeSync(devNull);
  }
  // Not a recently closed fd: the addon's own open() of /proc/thread-self/ns/net would reuse that number.
  const neverOpened = 0x3fffffff;
  assertSystemError(() => createSocket({ netnsFd: neverOpened, family: 4 }), 'EBADF', 'setns');
  assertSystemError(() => closeFd(neverOpened), 'EBADF', 'close');
});

test('invalid arguments throw a TypeError before any syscall', (t) => {
  if (!canRunNetnsTests(t)) return;
  const home = threadNetns();
  const invalid = { code: 'ERR_INVALID_ARG_VALUE', name: 'TypeError' };
  assert.throws(() => createSocket({ netnsFd: aFd, family: 4, listen: { address: '::1', port: 0 } }), invalid);
  assert.throws(() => createSocket({ netnsFd: aFd, family: 6, bind: { address: '10.0.0.1', port: 0 } }), invalid);
  assert.throws(() => createSocket({ netnsFd: aFd, family: 4, listen: { address: '0.0.0.0', port: 70000 } }), invalid);
  assert.throws(() => createSocket({ netnsFd: -1, family: 4 }), invalid);
  // @ts-expect-error: family is 4 | 6; JS callers can still pass anything.
  assert.throws(() => createSocket({ netnsFd: aFd, family: 5 }), invalid);
  assert.throws(() => listenInNetns(aFd, { host: 'localhost', port: 0 }), TypeError);
  assert.equal(threadNetns(), home);
});

test('setMark and getMark round-trip; the thread never leaves home for a socket without netnsFd', (t) => {
  if (!canRunNetnsTests(t)) return;
  const home = threadNetns();
  const fd = createSocket({ family: 6, mark: 7 });
  try {
    assert.equal(getMark(fd), 7);
    setMark(fd, 0x539);
    assert.equal(getMark(fd), 0x539);
    assert.equal(threadNetns(), home);
  } finally {
    closeFd(fd);
  }
});
