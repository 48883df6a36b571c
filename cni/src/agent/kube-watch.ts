// A small list-watch client (an "informer") over a Kubernetes-style API on a unix socket: list, then watch from the
// list's resourceVersion, keep a cache, relist when the server says 410 Gone, reconnect with backoff. It follows the
// API conventions of https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes:
// a watch is a chunked 200 response of `{"type","object"}` JSON lines; an expired resourceVersion arrives as an
// in-stream ERROR event carrying a Status with code 410 (older servers answer the watch request itself with 410).
import { request, type ClientRequest } from 'node:http';
import { AmbitError, errorMessage, isRecord, type Logger } from '@ambit/core';
import { createBackoff, systemClock, type BackoffOptions, type Clock, type ClockTimer } from '@ambit/core/xds';

export interface ListWatchOptions<T> {
  readonly socketPath: string;
  /** Collection path, e.g. `/api/v1/pods`. */
  readonly path: string;
  /** `fieldSelector` for list and watch, e.g. `spec.nodeName=node1`; none by default. */
  readonly fieldSelector?: string;
  /** Converts one API object; throwing skips the object (logged and counted in `stats().badObjects`). */
  readonly parse: (x: unknown) => T;
  readonly keyOf: (obj: T) => string;
  /** Called for every change seen, also the ones a relist reveals; `current` undefined means deleted. */
  readonly onChange: (key: string, current: T | undefined, previous: T | undefined) => void;
  /** Called after every completed list (the first one means the cache is complete). */
  readonly onSynced?: () => void;
  readonly log: Logger;
  /** Reconnect backoff; default first retry after ~100 ms, capped at 10 s. */
  readonly backoff?: BackoffOptions;
  /** Server-side bound of one watch (`timeoutSeconds`), after which it is re-opened from the last version; default 300. */
  readonly watchTimeoutSeconds?: number;
  /** Bound on a list request, ms; default 30 000. */
  readonly listTimeoutMs?: number;
  readonly clock?: Clock;
}

export interface ListWatchStats {
  readonly lists: number;
  readonly watches: number;
  /** Relists forced by 410 Gone. */
  readonly gone: number;
  /** Lists and watches that failed (and were retried after a backoff). */
  readonly failures: number;
  readonly badObjects: number;
}

export interface ListWatch<T> {
  /** True once the first list has completed. */
  synced(): boolean;
  get(key: string): T | undefined;
  values(): T[];
  stats(): ListWatchStats;
  /** Stops watching and waits for the loop to end; the cache stays readable. */
  stop(): Promise<void>;
}

/** A list or watch failed; `gone` marks a 410 (the version expired: relist). */
class ListWatchError extends AmbitError {
  readonly gone: boolean;

  constructor(message: string, gone = false, cause?: unknown) {
    super(gone ? 'KUBE_RESOURCE_VERSION_GONE' : 'KUBE_LIST_WATCH_FAILED', message, { cause });
    this.gone = gone;
  }
}

/** A line longer than this is not a watch event of any object the agent reads: drop the stream and relist. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** A list larger than this is refused rather than buffered. */
const MAX_LIST_BYTES = 256 * 1024 * 1024;
/** A watch that ends sooner than this after opening counts as a failure for backoff (a server closing at once). */
const MIN_HEALTHY_WATCH_MS = 1000;

/** Starts listing and watching at once; the first list's result arrives through `onChange` and `onSynced`. */
export function startListWatch<T>(opts: ListWatchOptions<T>): ListWatch<T> {
  const clock = opts.clock ?? systemClock;
  const backoff = createBackoff(opts.backoff);
  const log = opts.log.child({ component: 'list-watch', resource: opts.path });
  const cache = new Map<string, T>();
  const stats = { lists: 0, watches: 0, gone: 0, failures: 0, badObjects: 0 };
  let synced = false;
  let stopped = false;
  let current: ClientRequest | undefined;
  let wake: (() => void) | undefined;
  let sleepTimer: ClockTimer | undefined;

  const query = (extra: Record<string, string>): string => {
    const params = new URLSearchParams(extra);
    if (opts.fieldSelector !== undefined) params.set('fieldSelector', opts.fieldSelector);
    return `${opts.path}?${params.toString()}`;
  };

  const parseObject = (x: unknown): T | undefined => {
    try {
      return opts.parse(x);
    } catch (err) {
      stats.badObjects++;
      log.warn({ err: errorMessage(err) }, 'skipping an object that does not parse');
      return undefined;
    }
  };

  // A throwing handler is a bug in the consumer; it must not tear down the watch (and with it every later event).
  const notify = (key: string, current: T | undefined, previous: T | undefined): void => {
    try {
      opts.onChange(key, current, previous);
    } catch (err) {
      log.error({ err: errorMessage(err), key }, 'BUG: list-watch change handler threw');
    }
  };

  const upsert = (obj: T): void => {
    const key = opts.keyOf(obj);
    const previous = cache.get(key);
    cache.set(key, obj);
    notify(key, obj, previous);
  };

  const remove = (key: string): void => {
    const previous = cache.get(key);
    if (previous === undefined) return;
    cache.delete(key);
    notify(key, undefined, previous);
  };

  /** Lists, replaces the cache (reporting what vanished while unwatched) and returns the list's resourceVersion. */
  const list = async (): Promise<string> => {
    const body = await get(query({}), opts.listTimeoutMs ?? 30_000);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (err) {
      throw new ListWatchError(`list ${opts.path}: body is not JSON`, false, err);
    }
    if (!isRecord(json) || !Array.isArray(json['items']) || !isRecord(json['metadata'])) {
      throw new ListWatchError(`list ${opts.path}: not a List (fields items and metadata)`);
    }
    const rv = json['metadata']['resourceVersion'];
    if (typeof rv !== 'string' || rv === '') throw new ListWatchError(`list ${opts.path}: field metadata.resourceVersion must be a non-empty string`);
    const fresh = new Map<string, T>();
    for (const item of json['items']) {
      const obj = parseObject(item);
      if (obj !== undefined) fresh.set(opts.keyOf(obj), obj);
    }
    for (const key of [...cache.keys()]) if (!fresh.has(key)) remove(key);
    for (const obj of fresh.values()) upsert(obj);
    stats.lists++;
    synced = true;
    try {
      opts.onSynced?.();
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'BUG: list-watch sync handler threw');
    }
    return rv;
  };

  const get = (path: string, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = request({ socketPath: opts.socketPath, path, method: 'GET', agent: false, headers: { accept: 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_LIST_BYTES) req.destroy(new ListWatchError(`list ${opts.path}: larger than ${MAX_LIST_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(body);
          else reject(new ListWatchError(`list ${opts.path}: HTTP ${res.statusCode ?? 0}: ${body.slice(0, 300)}`, res.statusCode === 410));
        });
        res.on('error', reject);
      });
      current = req;
      req.setTimeout(timeoutMs, () => req.destroy(new ListWatchError(`list ${opts.path}: no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(err instanceof ListWatchError ? err : new ListWatchError(`list ${opts.path}: ${err.message}`, false, err)));
      // A connection that closes before the body ended (after 'end' this reject is a no-op).
      req.on('close', () => reject(new ListWatchError(`list ${opts.path}: connection closed before the answer ended`)));
      req.end();
    });

  /** One watch stream from `rv`; resolves with the last version seen when the server ends it. */
  const watch = (rv: string): Promise<string> =>
    new Promise((resolve, reject) => {
      let last = rv;
      let pending = '';
      let failed = false;
      let ended = false;
      const fail = (err: ListWatchError): void => {
        if (failed || ended) return;
        failed = true;
        req.destroy();
        reject(err);
      };
      const onEvent = (line: string): void => {
        let event: unknown;
        try {
          event = JSON.parse(line);
        } catch (err) {
          return fail(new ListWatchError(`watch ${opts.path}: event is not JSON`, false, err));
        }
        if (!isRecord(event) || typeof event['type'] !== 'string' || !isRecord(event['object'])) {
          return fail(new ListWatchError(`watch ${opts.path}: event without type and object`));
        }
        const object = event['object'];
        if (event['type'] === 'ERROR') {
          const code = object['code'];
          const message = typeof object['message'] === 'string' ? object['message'] : JSON.stringify(object).slice(0, 300);
          return fail(new ListWatchError(`watch ${opts.path}: ERROR ${String(code)}: ${message}`, code === 410));
        }
        const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
        const objectRv = metadata['resourceVersion'];
        if (typeof objectRv === 'string' && objectRv !== '') last = objectRv;
        switch (event['type']) {
          case 'BOOKMARK':
            return;
          case 'ADDED':
          case 'MODIFIED': {
            const obj = parseObject(object);
            if (obj !== undefined) upsert(obj);
            return;
          }
          case 'DELETED': {
            const obj = parseObject(object);
            if (obj !== undefined) remove(opts.keyOf(obj));
            return;
          }
          default:
            log.warn({ type: event['type'] }, 'ignoring a watch event of unknown type');
        }
      };
      const path = query({
        watch: 'true',
        resourceVersion: rv,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(opts.watchTimeoutSeconds ?? 300),
      });
      const req = request({ socketPath: opts.socketPath, path, method: 'GET', agent: false, headers: { accept: 'application/json' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return fail(new ListWatchError(`watch ${opts.path}: HTTP ${res.statusCode ?? 0}`, res.statusCode === 410));
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          pending += chunk;
          for (let nl = pending.indexOf('\n'); nl >= 0 && !failed; nl = pending.indexOf('\n')) {
            const line = pending.slice(0, nl).trim();
            pending = pending.slice(nl + 1);
            if (line !== '') onEvent(line);
          }
          if (pending.length > MAX_LINE_BYTES) fail(new ListWatchError(`watch ${opts.path}: event longer than ${MAX_LINE_BYTES} bytes`));
        });
        res.on('end', () => {
          if (failed) return;
          ended = true;
          resolve(last);
        });
        res.on('error', (err) => fail(new ListWatchError(`watch ${opts.path}: ${err.message}`, false, err)));
      });
      current = req;
      // The server ends the watch after timeoutSeconds; a stream silent well past that is dead (no FIN ever came).
      req.setTimeout(((opts.watchTimeoutSeconds ?? 300) + 60) * 1000, () => fail(new ListWatchError(`watch ${opts.path}: silent for too long`)));
      req.on('error', (err) => fail(new ListWatchError(`watch ${opts.path}: ${err.message}`, false, err)));
      // Closed by stop() or by the peer before the response ended: either way this watch is over.
      req.on('close', () => fail(new ListWatchError(`watch ${opts.path}: connection closed`)));
      stats.watches++;
      req.end();
    });

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      sleepTimer = clock.setTimeout(resolve, ms);
    });

  const loop = async (): Promise<void> => {
    let rv: string | undefined;
    let attempt = 0;
    while (!stopped) {
      const started = clock.now();
      const relisting = rv === undefined;
      let endedCleanly = false;
      try {
        rv ??= await list();
        rv = await watch(rv);
        endedCleanly = true;
      } catch (err) {
        if (stopped) break;
        if (err instanceof ListWatchError && err.gone) {
          stats.gone++;
          log.info({ err: err.message }, 'resource version expired: relisting');
          rv = undefined;
          // A watch from an old version relists at once. A 410 right after a fresh list (or on the list itself) is
          // a server that cannot serve its own versions: relisting at once would spin, so that takes the backoff.
          if (!relisting) continue;
        } else {
          stats.failures++;
          log.warn({ err: errorMessage(err), attempt }, 'list/watch failed: retrying');
        }
      }
      // A watch that lived a while was healthy, however it ended; one that ended at once counts as a failure, so a
      // server that closes every watch is not hammered.
      if (clock.now() - started >= MIN_HEALTHY_WATCH_MS) {
        attempt = 0;
        if (endedCleanly) continue;
      }
      if (stopped) break;
      await sleep(backoff.delayMs(++attempt));
    }
  };

  const done = loop();
  return {
    synced: () => synced,
    get: (key) => cache.get(key),
    values: () => [...cache.values()],
    stats: () => ({ ...stats }),
    async stop() {
      stopped = true;
      current?.destroy();
      if (sleepTimer !== undefined) clock.clearTimeout(sleepTimer);
      wake?.();
      await done;
    },
  };
}
