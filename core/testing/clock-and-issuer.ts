import type { Clock, ClockTimer } from '../src/clock.ts';
import type { FetchedCertificate } from '../src/identity/ca-client.ts';
import { createCaCertificate, issueLeafCertificate, loadIssuer, type Issuer } from '../src/identity/issue-cert.ts';
import { generateP256KeyPair, privateKeyPem } from '../src/identity/signing-key.ts';
import type { CryptoKey } from '../src/identity/x509.ts';

// Test-only helpers for the certificate manager: a clock the test moves by hand, and certificates made with the
// project's own CA code (STYLE rule 20) whose validity follows that clock.

interface ManualTimer extends ClockTimer {
  readonly id: number;
}

export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing due timers in order, each with `now()` at its due time. */
  advance(ms: number): void;
  /** Moves time to `atMs` (not backwards). */
  advanceTo(atMs: number): void;
  /** Due times of the pending timers, earliest first. */
  pending(): number[];
}

export function manualClock(startMs: number): ManualClock {
  let now = startMs;
  let nextId = 1;
  const timers = new Map<number, { readonly atMs: number; readonly seq: number; readonly fn: () => void }>();
  const earliest = (): [number, { atMs: number; seq: number; fn: () => void }] | undefined => {
    let best: [number, { atMs: number; seq: number; fn: () => void }] | undefined;
    for (const [id, t] of timers) {
      if (best === undefined || t.atMs < best[1].atMs || (t.atMs === best[1].atMs && t.seq < best[1].seq)) best = [id, t];
    }
    return best;
  };
  const clock: ManualClock = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { atMs: now + Math.max(0, ms), seq: id, fn });
      const handle: ManualTimer = { id };
      return handle;
    },
    clearTimeout(timer) {
      timers.delete((timer as ManualTimer).id);
    },
    advanceTo(atMs) {
      for (;;) {
        const next = earliest();
        if (next === undefined || next[1].atMs > atMs) break;
        timers.delete(next[0]);
        now = Math.max(now, next[1].atMs);
        next[1].fn();
      }
      now = Math.max(now, atMs);
    },
    advance(ms) {
      clock.advanceTo(now + ms);
    },
    pending() {
      return [...timers.values()].map((t) => t.atMs).sort((a, b) => a - b);
    },
  };
  return clock;
}

export interface TestIssuer {
  readonly rootPem: string;
  /** A certificate for `uri` valid from `notBeforeMs` for `ttlMs`, over a key made once per issuer. */
  issue(uri: string, notBeforeMs: number, ttlMs: number): Promise<FetchedCertificate>;
}

export async function testIssuer(): Promise<TestIssuer> {
  const now = Date.now();
  const root = await createCaCertificate({
    subject: [{ O: ['ambit.dev'] }, { CN: ['Cert Manager Test CA'] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  });
  const issuer: Issuer = await loadIssuer(root.certPem, root.keyPem);
  // One leaf key for all certificates: generating a key per fetch is the CA client's job, not what these tests test.
  const keys = await generateP256KeyPair();
  const publicKey: CryptoKey = keys.publicKey;
  const keyPem = await privateKeyPem(keys.privateKey);
  return {
    rootPem: root.certPem,
    async issue(uri, notBeforeMs, ttlMs) {
      const notBefore = new Date(notBeforeMs);
      const notAfter = new Date(notBeforeMs + ttlMs);
      const certPem = await issueLeafCertificate({ publicKey, sans: [{ type: 'url', value: uri }], notBefore, notAfter, issuer });
      return { certPem, keyPem, chainPems: [], rootPem: root.certPem, notBefore, notAfter };
    },
  };
}
