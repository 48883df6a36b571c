import { createBackoff, type BackoffOptions } from '../backoff.ts';
import { systemClock, type Clock, type ClockTimer } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseSpiffeId } from '../model/spiffe.ts';
import type { FetchedCertificate } from './ca-client.ts';
import { CertError } from './cert-error.ts';
import { acceptCertificate, refreshAtMs, type WorkloadCert } from './managed-cert.ts';

/**
 * The certificate manager of the proxies (reference istio-ambient.md §5, ztunnel `src/identity/manager.rs`): one
 * certificate per SPIFFE identity, fetched from the CA, renewed at half-life, retried with backoff while the
 * still-valid certificate keeps being served. ztunnel holds one per identity with a pod on its node (fetched on the
 * pods' behalf); a waypoint holds exactly one, its own. All time comes from the injected clock (STYLE rule 3).
 */

/** Asks the CA for a certificate for `identity`: the CA client's `fetchCertificate`. */
export type FetchCertificate = (identity: string, ttlSeconds: number) => Promise<FetchedCertificate>;

export interface CertManagerOptions {
  readonly fetch: FetchCertificate;
  /** Lifetime asked of the CA; default 86400 s (ztunnel's SECRET_TTL). */
  readonly ttlSeconds?: number;
  /** Default the system clock. */
  readonly clock?: Clock;
  /** Retry schedule after a failed fetch; default initial 500 ms, ×2, cap 150000 ms, ±20 % jitter. */
  readonly backoff?: BackoffOptions;
  /** Longest `certFor` waits when no valid certificate is held; default 10000 ms. */
  readonly certWaitMs?: number;
  /** A fetch not settled after this counts as failed; default 30000 ms. */
  readonly fetchTimeoutMs?: number;
  /** Fetches running at once; more wait in a queue where `certFor` goes ahead of prefetches. Default 8. */
  readonly maxConcurrentFetches?: number;
  readonly log: Logger;
}

/** ztunnel's config_dump certificate states. */
export type CertStateName = 'Initializing' | 'Available' | `Unavailable: ${string}`;

/** One identity's certificate, for the admin `config_dump`. Times are ISO 8601. */
export interface CertStatus {
  readonly identity: string;
  readonly state: CertStateName;
  /** A pod with this identity is on the node (renewed in the background). */
  readonly tracked: boolean;
  readonly notBefore?: string;
  readonly notAfter?: string;
  /** When the next renewal or retry is due; absent while a fetch runs or when none is planned. */
  readonly nextRefreshAt?: string;
  /** Failed fetches since the last success. */
  readonly failures: number;
  readonly lastError?: string;
}

export interface CertManager {
  /**
   * A currently-valid certificate for `identity`, fetching it if needed (concurrent calls share one fetch). Never an
   * expired one. Rejects with CertError `CERT_UNAVAILABLE` when the CA fails and no retry is due within the wait
   * bound, `CERT_WAIT_TIMEOUT` when the bound passes, AmbitError `INVALID_SPIFFE_ID` for a malformed identity.
   */
  certFor(identity: string): Promise<WorkloadCert>;
  /** A pod with `identity` is on the node: prefetch its certificate and keep it renewed. Idempotent. */
  track(identity: string): void;
  /** The valid certificate held for `identity` right now, without fetching (the HBONE server picks it per handshake). */
  current(identity: string): WorkloadCert | undefined;
  /** No pod with `identity` is left: stop renewing; the certificate is dropped when it expires. Idempotent. */
  untrack(identity: string): void;
  /** Every identity held, sorted. */
  state(): CertStatus[];
  /** Cancels timers and rejects pending `certFor` calls with `CERT_MANAGER_CLOSED`; fetches in flight are ignored. */
  close(): void;
}

const DEFAULT_TTL_SECONDS = 24 * 60 * 60;

type TimerKind = 'refresh' | 'retry' | 'drop';

interface Waiter {
  readonly resolve: (cert: WorkloadCert) => void;
  readonly reject: (err: unknown) => void;
  readonly deadlineMs: number;
  readonly timer: ClockTimer;
}

interface Entry {
  readonly identity: string;
  tracked: boolean;
  cert: WorkloadCert | undefined;
  receivedAtMs: number;
  /** `queued` and `running` both count as the identity's one in-flight fetch. */
  fetch: 'idle' | 'queued' | 'running';
  /** A queued fetch someone is waiting on goes before prefetches. */
  urgent: boolean;
  fetchTimeout: ClockTimer | undefined;
  timer: { readonly kind: TimerKind; readonly atMs: number; readonly handle: ClockTimer } | undefined;
  failures: number;
  lastError: unknown;
  readonly waiters: Set<Waiter>;
}

/**
 * Retries of a failed fetch, per identity (reference istio-ambient.md §5, as ztunnel's `SecretManager`): 500 ms
 * doubling to 150 s, each delay drawn within ±20 % so the retries of many identities, and of many nodes after a CA
 * outage, do not reach the CA in lockstep.
 */
const CA_RETRY_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 150_000, jitter: 0.2 };

export function createCertManager(options: CertManagerOptions): CertManager {
  const clock = options.clock ?? systemClock;
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const certWaitMs = options.certWaitMs ?? 10_000;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 30_000;
  const maxConcurrent = options.maxConcurrentFetches ?? 8;
  const backoff = createBackoff({ ...CA_RETRY_BACKOFF, ...options.backoff });
  const log = options.log.child({ component: 'cert-manager' });
  if (!(ttlSeconds > 0 && certWaitMs >= 0 && fetchTimeoutMs > 0 && maxConcurrent >= 1)) {
    throw new RangeError('cert manager needs ttlSeconds > 0, certWaitMs ≥ 0, fetchTimeoutMs > 0, maxConcurrentFetches ≥ 1');
  }

  const entries = new Map<string, Entry>();
  const queue: Entry[] = [];
  let running = 0;
  let closed = false;

  const validCert = (entry: Entry): WorkloadCert | undefined =>
    entry.cert !== undefined && clock.now() < entry.cert.notAfter.getTime() ? entry.cert : undefined;

  const wanted = (entry: Entry): boolean => entry.tracked || entry.waiters.size > 0;

  function clearTimer(entry: Entry): void {
    if (entry.timer === undefined) return;
    clock.clearTimeout(entry.timer.handle);
    entry.timer = undefined;
  }

  function setTimer(entry: Entry, kind: TimerKind, atMs: number): void {
    clearTimer(entry);
    const handle = clock.setTimeout(
      () => {
        entry.timer = undefined;
        onTimer(entry, kind);
      },
      Math.max(0, atMs - clock.now()),
    );
    entry.timer = { kind, atMs, handle };
  }

  function getEntry(identity: string): Entry {
    let entry = entries.get(identity);
    if (entry === undefined) {
      entry = {
        identity,
        tracked: false,
        cert: undefined,
        receivedAtMs: 0,
        fetch: 'idle',
        urgent: false,
        fetchTimeout: undefined,
        timer: undefined,
        failures: 0,
        lastError: undefined,
        waiters: new Set(),
      };
      entries.set(identity, entry);
    }
    return entry;
  }

  /**
   * What an idle entry nobody waits on does next: a tracked one renews at half-life; an untracked one is kept until
   * its certificate expires (a late connection may still use it), then forgotten.
   */
  function settleIdle(entry: Entry): void {
    if (entry.fetch !== 'idle' || entry.waiters.size > 0) return;
    const cert = validCert(entry);
    if (entry.tracked) {
      if (cert !== undefined && entry.timer?.kind !== 'retry') setTimer(entry, 'refresh', refreshAtMs(cert, entry.receivedAtMs));
      else if (cert === undefined && entry.timer === undefined) startFetch(entry, false);
      return;
    }
    if (cert !== undefined) {
      setTimer(entry, 'drop', cert.notAfter.getTime());
    } else {
      clearTimer(entry);
      if (entries.get(entry.identity) === entry) entries.delete(entry.identity);
    }
  }

  function onTimer(entry: Entry, kind: TimerKind): void {
    if (closed) return;
    if (kind === 'drop' || !wanted(entry)) {
      settleIdle(entry);
      return;
    }
    startFetch(entry, entry.waiters.size > 0);
  }

  function startFetch(entry: Entry, urgent: boolean): void {
    if (entry.fetch === 'running') return;
    if (entry.fetch === 'queued') {
      if (urgent && !entry.urgent) {
        // Move ahead of the prefetches: a connection is waiting on this one.
        queue.splice(queue.indexOf(entry), 1);
        entry.urgent = true;
        enqueue(entry);
      }
      return;
    }
    clearTimer(entry);
    entry.fetch = 'queued';
    entry.urgent = urgent;
    enqueue(entry);
    pump();
  }

  function enqueue(entry: Entry): void {
    if (!entry.urgent) {
      queue.push(entry);
      return;
    }
    const firstPrefetch = queue.findIndex((e) => !e.urgent);
    if (firstPrefetch < 0) queue.push(entry);
    else queue.splice(firstPrefetch, 0, entry);
  }

  function pump(): void {
    while (!closed && running < maxConcurrent) {
      const entry = queue.shift();
      if (entry === undefined) return;
      run(entry);
    }
  }

  function run(entry: Entry): void {
    entry.fetch = 'running';
    running += 1;
    const { identity } = entry;
    const timeout = new Promise<never>((_resolve, reject) => {
      entry.fetchTimeout = clock.setTimeout(() => {
        reject(new CertError('CERT_FETCH_TIMEOUT', identity, `CA did not answer for ${identity} within ${fetchTimeoutMs} ms`));
      }, fetchTimeoutMs);
    });
    // Promise.resolve().then: a fetch that throws synchronously is a failed fetch like any other.
    const attempt = Promise.resolve().then(() => options.fetch(identity, ttlSeconds));
    Promise.race([attempt, timeout])
      .then((fetched) => acceptCertificate(identity, fetched, clock.now()))
      .then(
        (cert) => finish(entry, cert, undefined),
        (err: unknown) => finish(entry, undefined, err),
      );
  }

  function finish(entry: Entry, cert: WorkloadCert | undefined, err: unknown): void {
    if (entry.fetchTimeout !== undefined) clock.clearTimeout(entry.fetchTimeout);
    entry.fetchTimeout = undefined;
    if (closed) return;
    running -= 1;
    entry.fetch = 'idle';
    entry.urgent = false;
    if (cert !== undefined) succeeded(entry, cert);
    else failed(entry, err);
    pump();
  }

  function succeeded(entry: Entry, cert: WorkloadCert): void {
    entry.cert = cert;
    entry.receivedAtMs = clock.now();
    entry.failures = 0;
    entry.lastError = undefined;
    for (const waiter of entry.waiters) {
      clock.clearTimeout(waiter.timer);
      waiter.resolve(cert);
    }
    entry.waiters.clear();
    clearTimer(entry);
    settleIdle(entry);
    const next = entry.timer?.kind === 'refresh' ? new Date(entry.timer.atMs).toISOString() : undefined;
    log.info({ identity: entry.identity, notAfter: cert.notAfter.toISOString(), refreshAt: next }, 'workload certificate issued');
  }

  function failed(entry: Entry, err: unknown): void {
    entry.failures += 1;
    entry.lastError = err;
    const still = validCert(entry);
    if (!wanted(entry)) {
      log.warn({ identity: entry.identity, err: errorMessage(err) }, 'certificate fetch failed; identity no longer needed');
      settleIdle(entry);
      return;
    }
    const delayMs = backoff.delayMs(entry.failures);
    const retryAtMs = clock.now() + delayMs;
    setTimer(entry, 'retry', retryAtMs);
    log.warn(
      {
        identity: entry.identity,
        failures: entry.failures,
        retryInMs: delayMs,
        servingUntil: still?.notAfter.toISOString(),
        err: errorMessage(err),
      },
      still === undefined
        ? 'certificate fetch failed; no valid certificate to serve'
        : 'certificate renewal failed; still serving the current certificate',
    );
    // A caller waits for the retry only if it comes within the caller's bound; the others learn why now.
    for (const waiter of entry.waiters) {
      if (still !== undefined) {
        clock.clearTimeout(waiter.timer);
        entry.waiters.delete(waiter);
        waiter.resolve(still);
      } else if (retryAtMs > waiter.deadlineMs) {
        clock.clearTimeout(waiter.timer);
        entry.waiters.delete(waiter);
        waiter.reject(unavailable(entry));
      }
    }
  }

  function unavailable(entry: Entry): CertError {
    const retry = entry.timer?.kind === 'retry' ? `; next attempt in ${Math.max(0, entry.timer.atMs - clock.now())} ms` : '';
    return new CertError(
      'CERT_UNAVAILABLE',
      entry.identity,
      `no certificate for ${entry.identity}: ${errorMessage(entry.lastError)}${retry}`,
      {
        cause: entry.lastError,
      },
    );
  }

  function addWaiter(entry: Entry): Promise<WorkloadCert> {
    return new Promise<WorkloadCert>((resolve, reject) => {
      const deadlineMs = clock.now() + certWaitMs;
      const waiter: Waiter = {
        resolve,
        reject,
        deadlineMs,
        timer: clock.setTimeout(() => {
          entry.waiters.delete(waiter);
          const last = entry.lastError === undefined ? '' : `; last error: ${errorMessage(entry.lastError)}`;
          reject(
            new CertError('CERT_WAIT_TIMEOUT', entry.identity, `no certificate for ${entry.identity} within ${certWaitMs} ms${last}`, {
              cause: entry.lastError,
            }),
          );
          if (!wanted(entry)) settleIdle(entry);
        }, certWaitMs),
      };
      entry.waiters.add(waiter);
    });
  }

  function checkedIdentity(identity: string): string {
    parseSpiffeId(identity);
    return identity;
  }

  return {
    certFor(identity) {
      if (closed) return Promise.reject(new CertError('CERT_MANAGER_CLOSED', identity, 'certificate manager is closed'));
      try {
        checkedIdentity(identity);
      } catch (err) {
        return Promise.reject(err);
      }
      const entry = getEntry(identity);
      const cert = validCert(entry);
      if (cert !== undefined) return Promise.resolve(cert);
      if (entry.fetch === 'idle' && entry.timer?.kind === 'retry' && entry.timer.atMs > clock.now() + certWaitMs) {
        // Backing off past our wait bound: fail now rather than hold the connection for nothing, and do not let
        // connection attempts bypass the backoff and hammer a CA that is down.
        return Promise.reject(unavailable(entry));
      }
      const pending = addWaiter(entry);
      // A retry due within the bound is awaited as scheduled (its timer sees the waiter and fetches urgently);
      // otherwise fetch now, or join and hurry the fetch already queued or running.
      if (!(entry.fetch === 'idle' && entry.timer?.kind === 'retry')) startFetch(entry, true);
      return pending;
    },

    current(identity) {
      const entry = entries.get(identity);
      return entry === undefined ? undefined : validCert(entry);
    },
    track(identity) {
      if (closed) return;
      const entry = getEntry(checkedIdentity(identity));
      if (entry.tracked) return;
      entry.tracked = true;
      if (entry.timer?.kind === 'drop') clearTimer(entry);
      settleIdle(entry);
    },

    untrack(identity) {
      const entry = entries.get(identity);
      if (closed || entry === undefined || !entry.tracked) return;
      entry.tracked = false;
      if (entry.timer?.kind !== 'drop' && entry.waiters.size === 0) clearTimer(entry);
      settleIdle(entry);
    },

    state() {
      const now = clock.now();
      return [...entries.values()]
        .sort((a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0))
        .map((entry): CertStatus => {
          const cert = validCert(entry);
          let state: CertStateName;
          if (cert !== undefined) state = 'Available';
          else if (entry.lastError !== undefined) state = `Unavailable: ${errorMessage(entry.lastError)}`;
          else if (entry.cert !== undefined) state = `Unavailable: certificate expired at ${entry.cert.notAfter.toISOString()}`;
          else state = 'Initializing';
          const next = entry.timer !== undefined && entry.timer.kind !== 'drop' ? Math.max(entry.timer.atMs, now) : undefined;
          return {
            identity: entry.identity,
            state,
            tracked: entry.tracked,
            failures: entry.failures,
            ...(entry.cert === undefined
              ? {}
              : { notBefore: entry.cert.notBefore.toISOString(), notAfter: entry.cert.notAfter.toISOString() }),
            ...(next === undefined ? {} : { nextRefreshAt: new Date(next).toISOString() }),
            ...(entry.lastError === undefined ? {} : { lastError: errorMessage(entry.lastError) }),
          };
        });
    },

    close() {
      if (closed) return;
      closed = true;
      queue.length = 0;
      for (const entry of entries.values()) {
        clearTimer(entry);
        if (entry.fetchTimeout !== undefined) clock.clearTimeout(entry.fetchTimeout);
        entry.fetchTimeout = undefined;
        for (const waiter of entry.waiters) {
          clock.clearTimeout(waiter.timer);
          waiter.reject(new CertError('CERT_MANAGER_CLOSED', entry.identity, 'certificate manager is closed'));
        }
        entry.waiters.clear();
      }
      entries.clear();
    },
  };
}
