import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import type { BackoffOptions } from '../backoff.ts';
import { hasCode } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { spiffeId } from '../model/spiffe.ts';
import type { FetchedCertificate } from './ca-client.ts';
import { eventually } from '../../testing/eventually.ts';
import { createCertManager, type CertManager, type CertStatus } from './cert-manager.ts';
import { manualClock, testIssuer, type ManualClock, type TestIssuer } from '../../testing/clock-and-issuer.ts';

// The certificate manager against a scripted CA and a hand-driven clock: rotation and backoff are checked to the
// millisecond without waiting for them. Certificates are real (the manager parses the leaf), dated by the fake clock.

const ID = spiffeId('cluster.local', 'default', 'bookinfo');
const OTHER = spiffeId('cluster.local', 'default', 'reviews');
const START_MS = Date.UTC(2030, 0, 1);
const HOUR_S = 3600;

let issuer: TestIssuer;
before(async () => {
  issuer = await testIssuer();
});

type Mode = 'ok' | 'fail' | 'wrong-san' | 'gate';

/** A CA whose next answers the test picks; `gate` holds fetches until `release()`. */
function scriptedCa(clock: ManualClock) {
  const calls: Array<{ identity: string; atMs: number }> = [];
  const gated: Array<() => void> = [];
  const ca = {
    mode: 'ok' as Mode,
    calls,
    release(): void {
      for (const open of gated.splice(0)) open();
    },
    async fetch(identity: string, ttlSeconds: number): Promise<FetchedCertificate> {
      // X.509 times have whole seconds; the CA dates the certificate at the (fake) time of the request.
      const atMs = clock.now();
      calls.push({ identity, atMs });
      if (ca.mode === 'fail') throw new Error('CA unreachable');
      if (ca.mode === 'gate') await new Promise<void>((resolve) => gated.push(resolve));
      const san = ca.mode === 'wrong-san' ? OTHER : identity;
      return issuer.issue(san, Math.floor(atMs / 1000) * 1000, ttlSeconds * 1000);
    },
  };
  return ca;
}

interface Fixture {
  readonly clock: ManualClock;
  readonly ca: ReturnType<typeof scriptedCa>;
  readonly manager: CertManager;
}

const open: Fixture[] = [];
after(() => {
  for (const f of open) f.manager.close();
});

function setup(opts: { ttlSeconds?: number; backoff?: BackoffOptions; certWaitMs?: number; maxConcurrentFetches?: number } = {}): Fixture {
  const clock = manualClock(START_MS);
  const ca = scriptedCa(clock);
  const manager = createCertManager({
    fetch: (identity, ttl) => ca.fetch(identity, ttl),
    ttlSeconds: opts.ttlSeconds ?? HOUR_S,
    clock,
    // random 0.5 makes the jitter factor exactly 1, so the sequence is the nominal one.
    backoff: opts.backoff ?? { random: () => 0.5 },
    ...(opts.certWaitMs === undefined ? {} : { certWaitMs: opts.certWaitMs }),
    ...(opts.maxConcurrentFetches === undefined ? {} : { maxConcurrentFetches: opts.maxConcurrentFetches }),
    log: silentLogger(),
  });
  const f = { clock, ca, manager };
  open.push(f);
  return f;
}

function statusOf(manager: CertManager, identity = ID): CertStatus {
  const s = manager.state().find((e) => e.identity === identity);
  assert.ok(s, `no state for ${identity}`);
  return s;
}

/** Resolves once the manager has handled whatever the last clock move started. */
async function until(cond: () => boolean, what: string): Promise<void> {
  await eventually(() => assert.ok(cond(), what), 5000, 5);
}

/** Lets promise callbacks (fetch start, result handling) run without moving the fake clock. */
async function drain(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

function leafOf(cert: { certChain: readonly string[] }): string {
  const [leaf] = cert.certChain;
  assert.ok(leaf !== undefined);
  return leaf;
}

test('renews exactly at half-life, and again at the next half-life', async () => {
  const { clock, ca, manager } = setup();
  manager.track(ID);
  assert.equal(statusOf(manager).state, 'Initializing');
  await until(() => statusOf(manager).state === 'Available', 'first certificate');
  const first = await manager.certFor(ID);
  assert.equal(ca.calls.length, 1);
  const halfLife = START_MS + (HOUR_S * 1000) / 2;
  assert.equal(statusOf(manager).nextRefreshAt, new Date(halfLife).toISOString());
  assert.equal(first.notBefore.getTime(), START_MS);
  assert.equal(first.notAfter.getTime(), START_MS + HOUR_S * 1000);

  clock.advanceTo(halfLife - 1);
  await drain();
  assert.equal(ca.calls.length, 1, 'no renewal before half-life');

  clock.advance(1);
  await until(() => ca.calls.length === 2, 'renewal at half-life');
  assert.equal(ca.calls[1]?.atMs, halfLife);
  await until(() => statusOf(manager).nextRefreshAt === new Date(halfLife + (HOUR_S * 1000) / 2).toISOString(), 'next renewal planned');
  const second = await manager.certFor(ID);
  assert.notEqual(leafOf(second), leafOf(first), 'the renewed certificate is served');
  assert.equal(second.notBefore.getTime(), halfLife);

  clock.advanceTo(halfLife + (HOUR_S * 1000) / 2);
  await until(() => ca.calls.length === 3, 'second renewal');
  assert.equal(ca.calls[2]?.atMs, halfLife + (HOUR_S * 1000) / 2);
  assert.deepEqual(first.roots, [issuer.rootPem]);
});

test('a failed renewal backs off 500 ms, doubling to a 150 s cap, serving the old certificate until recovery replaces it', async () => {
  const { clock, ca, manager } = setup();
  manager.track(ID);
  await until(() => statusOf(manager).state === 'Available', 'first certificate');
  const first = await manager.certFor(ID);

  ca.mode = 'fail';
  clock.advanceTo(START_MS + (HOUR_S * 1000) / 2);
  const delays: number[] = [];
  for (let failures = 1; failures <= 12; failures++) {
    await until(() => statusOf(manager).failures === failures && statusOf(manager).nextRefreshAt !== undefined, `failure ${failures}`);
    const s = statusOf(manager);
    assert.equal(s.state, 'Available', 'the still-valid certificate keeps the identity available');
    assert.match(s.lastError ?? '', /CA unreachable/);
    assert.equal(leafOf(await manager.certFor(ID)), leafOf(first), 'the old certificate is still served');
    const retryAt = Date.parse(s.nextRefreshAt ?? '');
    delays.push(retryAt - clock.now());
    if (failures < 12) clock.advanceTo(retryAt);
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 150_000, 150_000, 150_000]);
  assert.equal(ca.calls.length, 1 + 12);

  ca.mode = 'ok';
  const recoveryAt = Date.parse(statusOf(manager).nextRefreshAt ?? '');
  clock.advanceTo(recoveryAt);
  await until(() => statusOf(manager).failures === 0, 'recovery');
  const renewed = await manager.certFor(ID);
  assert.notEqual(leafOf(renewed), leafOf(first), 'recovery replaces the old certificate');
  const s = statusOf(manager);
  assert.equal(s.lastError, undefined);
  const refreshAt = Date.parse(s.nextRefreshAt ?? '');
  const { notBefore, notAfter } = renewed;
  // Fetched off a whole second: half-life is counted from receipt, not the truncated notBefore.
  assert.equal(refreshAt, recoveryAt + Math.floor((notAfter.getTime() - recoveryAt) / 2));
  assert.ok(notBefore.getTime() <= recoveryAt);
});

test('an untracked certificate is served until its last valid millisecond, then a fresh one is awaited', async () => {
  const { clock, ca, manager } = setup({ ttlSeconds: 60 });
  const first = await manager.certFor(ID);
  const expiry = first.notAfter.getTime();
  clock.advanceTo(expiry - 1);
  assert.equal(leafOf(await manager.certFor(ID)), leafOf(first));
  assert.equal(ca.calls.length, 1, 'on-demand certificates are not renewed in the background');

  clock.advanceTo(expiry);
  assert.deepEqual(manager.state(), [], 'an expired untracked certificate is dropped');
  ca.mode = 'gate';
  let settled = false;
  const pending = manager.certFor(ID).finally(() => {
    settled = true;
  });
  await until(() => ca.calls.length === 2, 'fresh fetch');
  await drain();
  assert.equal(settled, false, 'the expired certificate was not served');
  ca.release();
  const fresh = await pending;
  assert.ok(fresh.notAfter.getTime() > clock.now());
  assert.notEqual(leafOf(fresh), leafOf(first));
});

test('when renewals fail until expiry, the expired certificate is never served', async () => {
  const { clock, ca, manager } = setup({ ttlSeconds: 60 });
  manager.track(ID);
  const first = await manager.certFor(ID);
  const expiry = first.notAfter.getTime();
  ca.mode = 'fail';
  clock.advanceTo(START_MS + 30_000);
  let failures = 0;
  while (clock.now() < expiry) {
    failures += 1;
    await until(() => statusOf(manager).failures === failures && statusOf(manager).nextRefreshAt !== undefined, `failure ${failures}`);
    if (clock.now() < expiry) assert.equal(leafOf(await manager.certFor(ID)), leafOf(first), 'valid until expiry');
    clock.advanceTo(Date.parse(statusOf(manager).nextRefreshAt ?? ''));
  }
  // Retries at 30.5, 31.5, 33.5, 37.5, 45.5 and 61.5 s; the last one, after expiry, fails too.
  await until(() => statusOf(manager).failures === failures + 1 && statusOf(manager).nextRefreshAt !== undefined, 'failure after expiry');
  assert.match(statusOf(manager).state, /^Unavailable: CA unreachable/);
  // The next retry is 32 s away, past the 10 s wait bound: the caller learns why at once.
  await assert.rejects(manager.certFor(ID), (err: unknown) => hasCode(err, 'CERT_UNAVAILABLE') && /CA unreachable/.test(String(err)));
  assert.equal(ca.calls.length, 1 + failures + 1, 'a rejected certFor did not bypass the backoff');

  ca.mode = 'ok';
  clock.advanceTo(Date.parse(statusOf(manager).nextRefreshAt ?? ''));
  await until(() => statusOf(manager).state === 'Available', 'recovered');
  const fresh = await manager.certFor(ID);
  assert.ok(fresh.notAfter.getTime() > clock.now());
});

test('certFor waits for a retry that falls within its bound, and times out with the last error after it', async () => {
  const { clock, ca, manager } = setup({ certWaitMs: 3000 });
  ca.mode = 'fail';
  const waiting = manager.certFor(ID);
  // Attempts at 0, 0.5 and 1.5 s fit in 3 s; the next (3.5 s) does not, so the third failure rejects.
  for (const atMs of [500, 1500]) {
    await until(() => statusOf(manager).nextRefreshAt === new Date(START_MS + atMs).toISOString(), `retry at ${atMs}`);
    clock.advanceTo(START_MS + atMs);
  }
  await assert.rejects(waiting, (err: unknown) => hasCode(err, 'CERT_UNAVAILABLE'));
  assert.equal(ca.calls.length, 3);
  assert.match(statusOf(manager).state, /^Unavailable: CA unreachable/);
  // The backoff is remembered until the retry is due (callers cannot turn it into a fetch per connection); with
  // nobody waiting by then, the retry is skipped.
  clock.advanceTo(START_MS + 3500);
  await drain();
  assert.equal(ca.calls.length, 3, 'nobody waits: no retry');
  assert.deepEqual(manager.state(), [], 'an untracked identity nobody waits for is forgotten');
  assert.deepEqual(clock.pending(), [], 'and leaves no timer behind');

  ca.mode = 'gate';
  const slow = manager.certFor(ID);
  await until(() => ca.calls.length === 4, 'fetch started');
  clock.advance(3000);
  await assert.rejects(slow, (err: unknown) => hasCode(err, 'CERT_WAIT_TIMEOUT'));
  ca.release();
});

test('concurrent certFor calls share one fetch', async () => {
  const { ca, manager } = setup();
  ca.mode = 'gate';
  manager.track(ID);
  const all = Array.from({ length: 20 }, () => manager.certFor(ID));
  await until(() => ca.calls.length === 1, 'one fetch');
  await drain();
  assert.equal(ca.calls.length, 1);
  ca.release();
  const certs = await Promise.all(all);
  assert.ok(
    certs.every((c) => c === certs[0]),
    'every caller got the same certificate',
  );
  assert.equal(ca.calls.length, 1);
});

test('a certFor jumps the queue of prefetches', async () => {
  const { ca, manager } = setup({ maxConcurrentFetches: 1 });
  ca.mode = 'gate';
  const ids = ['a', 'b', 'c'].map((sa) => spiffeId('cluster.local', 'default', sa));
  for (const id of ids) manager.track(id);
  const urgent = manager.certFor(ID);
  for (let n = 1; n <= 4; n++) {
    await until(() => ca.calls.length === n, `fetch ${n}`);
    await drain();
    assert.equal(ca.calls.length, n, 'one fetch at a time');
    ca.release();
  }
  await urgent;
  assert.deepEqual(
    ca.calls.map((c) => c.identity),
    [ids[0], ID, ids[1], ids[2]],
  );
});

test('untrack stops renewals and retries; the certificate is dropped at expiry', async () => {
  const { clock, ca, manager } = setup();
  manager.track(ID);
  manager.track(OTHER);
  await until(() => manager.state().every((s) => s.state === 'Available'), 'both available');
  const cert = await manager.certFor(ID);
  manager.untrack(ID);
  assert.equal(statusOf(manager).tracked, false);
  assert.equal(statusOf(manager).nextRefreshAt, undefined);

  // OTHER keeps renewing at half-life; ID does not.
  clock.advanceTo(START_MS + (HOUR_S * 1000) / 2);
  await until(() => ca.calls.length === 3 && statusOf(manager, OTHER).nextRefreshAt !== undefined, 'OTHER renewed');
  assert.deepEqual(
    ca.calls.slice(2).map((c) => c.identity),
    [OTHER],
  );
  assert.equal(leafOf(await manager.certFor(ID)), leafOf(cert), 'still served while valid');

  clock.advanceTo(cert.notAfter.getTime());
  assert.deepEqual(
    manager.state().map((s) => s.identity),
    [OTHER],
    'dropped at expiry',
  );
  // OTHER's second renewal fell due at the same instant.
  await until(() => ca.calls.length === 4 && statusOf(manager, OTHER).nextRefreshAt !== undefined, 'OTHER renewed again');

  // Untracking during backoff cancels the retries.
  ca.mode = 'fail';
  clock.advanceTo(Date.parse(statusOf(manager, OTHER).nextRefreshAt ?? ''));
  await until(() => statusOf(manager, OTHER).failures === 1 && statusOf(manager, OTHER).nextRefreshAt !== undefined, 'OTHER failing');
  const calls = ca.calls.length;
  manager.untrack(OTHER);
  clock.advance(10 * 60_000);
  await drain();
  assert.equal(ca.calls.length, calls, 'no retry after untrack');
  clock.advance(HOUR_S * 1000);
  assert.deepEqual(manager.state(), []);
  assert.deepEqual(clock.pending(), [], 'no timer left');
});

test('track again after untrack resumes renewal', async () => {
  const { clock, ca, manager } = setup();
  manager.track(ID);
  await until(() => statusOf(manager).state === 'Available', 'available');
  manager.untrack(ID);
  manager.track(ID);
  assert.equal(statusOf(manager).nextRefreshAt, new Date(START_MS + (HOUR_S * 1000) / 2).toISOString());
  clock.advance((HOUR_S * 1000) / 2);
  await until(() => ca.calls.length === 2, 'renewed');
});

test('a certificate for another identity is refused', async () => {
  const { ca, manager } = setup({ certWaitMs: 0 });
  ca.mode = 'wrong-san';
  await assert.rejects(manager.certFor(ID), (err: unknown) => {
    assert.ok(hasCode(err, 'CERT_UNAVAILABLE'));
    assert.ok(err instanceof Error && hasCode(err.cause, 'CERT_IDENTITY_MISMATCH'), 'cause names the mismatch');
    assert.match(err.message, new RegExp(`carries URI SANs \\[${OTHER}\\]`));
    return true;
  });
});

test('malformed identities are refused without a fetch', async () => {
  const { ca, manager } = setup();
  await assert.rejects(manager.certFor('spiffe://cluster.local/ns/default'), (err: unknown) => hasCode(err, 'INVALID_SPIFFE_ID'));
  assert.throws(
    () => manager.track('not-a-spiffe-id'),
    (err: unknown) => hasCode(err, 'INVALID_SPIFFE_ID'),
  );
  assert.equal(ca.calls.length, 0);
});

test('close cancels every timer and rejects waiting callers', async () => {
  const { clock, ca, manager } = setup();
  manager.track(OTHER);
  await until(() => statusOf(manager, OTHER).state === 'Available', 'available');
  ca.mode = 'gate';
  manager.track(ID);
  const waiting = manager.certFor(ID);
  await until(() => ca.calls.length === 2, 'fetching');
  assert.ok(clock.pending().length > 0);
  manager.close();
  assert.deepEqual(clock.pending(), []);
  await assert.rejects(waiting, (err: unknown) => hasCode(err, 'CERT_MANAGER_CLOSED'));
  await assert.rejects(manager.certFor(OTHER), (err: unknown) => hasCode(err, 'CERT_MANAGER_CLOSED'));
  ca.release();
  await drain();
  assert.deepEqual(clock.pending(), [], 'a fetch finishing after close schedules nothing');
  assert.deepEqual(manager.state(), []);
});
