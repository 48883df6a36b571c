import type { ServerResponse } from 'node:http';
import type { KubeObject, ResourceType, WatchEvent } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import type { ObjectStore, WatchHandle } from '../store/object-store.ts';
import { apiVersionOf } from '../store/resource-types.ts';
import { toTable, type TableOptions } from './tables.ts';

/** Beyond this many unsent bytes the client is not keeping up: end the stream, it will relist and rewatch. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface WatchRequest {
  readonly store: ObjectStore;
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly labelSelector: string | undefined;
  readonly fieldSelector: string | undefined;
  /** As sent: absent, '' or '0' means "current state first, then changes". */
  readonly resourceVersion: string | undefined;
  /** The watch-list protocol (`sendInitialEvents=true`): initial state, then a bookmark marking its end. */
  readonly sendInitialEvents: boolean;
  readonly allowBookmarks: boolean;
  readonly bookmarkIntervalMs: number;
  /** Ends the stream after exactly this long; undefined never. */
  readonly timeoutMs: number | undefined;
  /** Set when the client asked for Table events (`kubectl get -w`): every object becomes a one-row Table. */
  readonly table: Omit<TableOptions, 'resourceVersion' | 'now'> | undefined;
}

/**
 * Serves one watch as newline-delimited JSON `{"type","object"}` over a chunked 200 response, like the real server.
 * An expired resourceVersion is not an HTTP error but a single in-stream ERROR event carrying a 410 Expired Status,
 * which is what informers react to by relisting. Returns a function that ends the stream (server shutdown).
 */
export function serveWatch(w: WatchRequest, res: ServerResponse): () => void {
  const apiVersion = apiVersionOf(w.type);
  const rv = w.resourceVersion ?? '';
  const initial = rv === '' || rv === '0' || w.sendInitialEvents;
  const pending: WatchEvent[] = [];
  let streaming = false;
  let ended = false;
  let handle: WatchHandle | undefined;
  const timers: NodeJS.Timeout[] = [];

  const end = (): void => {
    if (ended) return;
    ended = true;
    handle?.stop();
    for (const t of timers) clearTimeout(t);
    if (!res.writableEnded) res.end();
  };

  const encode = (e: WatchEvent): string => {
    // Storage is shared between versions of a CRD: show the object in the version this watch asked for.
    let object: KubeObject = e.type === 'ERROR' || e.type === 'BOOKMARK' ? e.object : { ...e.object, apiVersion, kind: w.type.kind };
    if (w.table !== undefined && (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED')) {
      object = toTable(w.type, [object], { ...w.table, resourceVersion: object.metadata.resourceVersion ?? '', now: new Date() });
    }
    return `${JSON.stringify({ type: e.type, object })}\n`;
  };

  const write = (e: WatchEvent): void => {
    if (ended) return;
    if (!streaming) {
      pending.push(e);
      return;
    }
    res.write(encode(e));
    if (res.writableLength > MAX_BUFFERED_BYTES) end();
  };

  const startStream = (): void => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    streaming = true;
  };

  const bookmark = (annotations?: Record<string, string>): WatchEvent => ({
    type: 'BOOKMARK',
    object: {
      kind: w.type.kind,
      apiVersion,
      metadata: { resourceVersion: w.store.resourceVersion, ...(annotations === undefined ? {} : { annotations }) },
    },
  });

  res.on('close', end);
  const listOpts = { namespace: w.namespace, labelSelector: w.labelSelector, fieldSelector: w.fieldSelector };
  let items: KubeObject[] = [];
  try {
    // List and watch in one synchronous step: no change can fall between the snapshot and the watch.
    let from = rv;
    if (initial) {
      const list = w.store.list(w.type, listOpts);
      items = list.items;
      from = list.resourceVersion;
    }
    handle = w.store.watch(w.type, { ...listOpts, resourceVersion: from }, write);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 410) throw err;
    startStream();
    res.write(encode({ type: 'ERROR', object: err.toStatus() }));
    end();
    return end;
  }

  startStream();
  for (const object of items) res.write(encode({ type: 'ADDED', object }));
  if (w.sendInitialEvents) res.write(encode(bookmark({ 'k8s.io/initial-events-end': 'true' })));
  for (const e of pending.splice(0)) write(e);

  if (w.allowBookmarks) {
    // The store delivers synchronously, so by the time a timer fires every event up to the current rv was written.
    const tick = setInterval(() => write(bookmark()), w.bookmarkIntervalMs);
    timers.push(tick);
  }
  if (w.timeoutMs !== undefined) timers.push(setTimeout(end, w.timeoutMs));
  return end;
}
