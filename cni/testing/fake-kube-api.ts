// Test support: a stand-in Kubernetes API on a unix socket, speaking the protocol the agent relies on the way the
// real server does (https://kubernetes.io/docs/reference/using-api/api-concepts/): GET of a pod or namespace, list
// with `metadata.resourceVersion`, watch from a version as chunked `{"type","object"}` JSON lines with ADDED /
// MODIFIED / DELETED / BOOKMARK, `fieldSelector` (an object that stops matching arrives as DELETED), and an expired
// version answered by an in-stream ERROR event carrying a 410 Expired Status (or, `goneAsHttpStatus`, by HTTP 410 as
// older servers do). Tests drive it: put/delete objects, compact the history, end every watch.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';

export type Kind = 'pods' | 'namespaces';

export interface KubeObject {
  readonly metadata: { name: string; namespace?: string; uid: string; resourceVersion?: string; labels?: Record<string, string>; [k: string]: unknown };
  readonly [k: string]: unknown;
}

interface Event {
  readonly rv: number;
  readonly kind: Kind;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: KubeObject;
  readonly previous: KubeObject | undefined;
}

interface Watcher {
  readonly kind: Kind;
  readonly matches: (o: KubeObject) => boolean;
  readonly res: ServerResponse;
  readonly timers: NodeJS.Timeout[];
}

export interface FakeKubeApiOptions {
  /** Interval of BOOKMARK events for watches that allow them, ms; default 100 (the real server: about a minute). */
  readonly bookmarkIntervalMs?: number;
  /** Answer an expired watch with HTTP 410 instead of the in-stream ERROR event. */
  readonly goneAsHttpStatus?: boolean;
}

export interface FakeKubeApi {
  readonly socketPath: string;
  /** `METHOD url` of every request, in order. */
  readonly requests: string[];
  /** Creates or replaces an object (ADDED or MODIFIED); returns it with its new resourceVersion. */
  put(kind: Kind, object: KubeObject): KubeObject;
  get(kind: Kind, namespace: string | undefined, name: string): KubeObject | undefined;
  delete(kind: Kind, namespace: string | undefined, name: string): void;
  /** Forgets the event history: a watch from any version before now gets 410 Gone. */
  compact(): void;
  /** Ends every open watch stream cleanly (as at the end of timeoutSeconds). */
  endWatches(): void;
  /** resourceVersions of the BOOKMARK events sent, in order. */
  readonly bookmarks: number[];
  /** Open watch streams per kind. */
  openWatches(kind: Kind): number;
  /** While down, every request is answered 503. */
  setDown(down: boolean): void;
  readonly resourceVersion: number;
  close(): Promise<void>;
}

const keyOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** `a.b.c=v`, `==`, `!=`, comma = AND; a missing field compares as '' (as the real server's field selectors). */
function fieldMatcher(selector: string | null): (o: KubeObject) => boolean {
  if (selector === null || selector === '') return () => true;
  const terms = selector.split(',').map((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term);
    if (m === null) throw new Error(`bad fieldSelector term ${term}`);
    return { path: (m[1] ?? '').split('.'), negate: m[2] === '!=', value: m[3] ?? '' };
  });
  return (o) =>
    terms.every((t) => {
      let v: unknown = o;
      for (const p of t.path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[p] : undefined;
      const s = v === undefined || v === null ? '' : String(v);
      return t.negate ? s !== t.value : s === t.value;
    });
}

export async function startFakeKubeApi(dir: string, options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const socketPath = join(dir, 'api.sock');
  const requests: string[] = [];
  const objects: Record<Kind, Map<string, KubeObject>> = { pods: new Map(), namespaces: new Map() };
  const history: Event[] = [];
  const watchers = new Set<Watcher>();
  const bookmarks: number[] = [];
  let rv = 1;
  let oldestRv = 1;
  let down = false;

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const statusBody = (code: number, reason: string, message: string): Record<string, unknown> => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
  const withKind = (kind: Kind, o: KubeObject): KubeObject => ({ ...o, apiVersion: 'v1', kind: kind === 'pods' ? 'Pod' : 'Namespace' });
  const line = (type: string, object: unknown): string => `${JSON.stringify({ type, object })}\n`;

  /** What a watcher sees of one event, after its selector (the real server's transition rules). */
  const eventFor = (w: Watcher, e: Event): string | undefined => {
    if (e.kind !== w.kind) return undefined;
    const now = e.type !== 'DELETED' && w.matches(e.object);
    const before = e.previous !== undefined && w.matches(e.previous);
    if (e.type === 'DELETED') return before ? line('DELETED', withKind(e.kind, e.object)) : undefined;
    if (now && before) return line('MODIFIED', withKind(e.kind, e.object));
    if (now) return line('ADDED', withKind(e.kind, e.object));
    // Stopped matching: the watcher is told it is gone, carrying the object as it is now.
    if (before) return line('DELETED', withKind(e.kind, e.object));
    return undefined;
  };

  const endWatcher = (w: Watcher): void => {
    for (const t of w.timers) clearTimeout(t);
    watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  };

  const record = (e: Event): void => {
    history.push(e);
    for (const w of watchers) {
      const text = eventFor(w, e);
      if (text !== undefined) w.res.write(text);
    }
  };

  const watch = (kind: Kind, url: URL, res: ServerResponse): void => {
    const matches = fieldMatcher(url.searchParams.get('fieldSelector'));
    const from = url.searchParams.get('resourceVersion') ?? '';
    const fromRv = from === '' || from === '0' ? undefined : Number(from);
    if (fromRv !== undefined && (!Number.isFinite(fromRv) || fromRv < oldestRv - 1)) {
      const status = statusBody(410, 'Expired', `too old resource version: ${from} (${oldestRv - 1})`);
      if (options.goneAsHttpStatus === true) return send(res, 410, status);
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.end(line('ERROR', status));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { kind, matches, res, timers: [] };
    if (fromRv === undefined) {
      for (const o of objects[kind].values()) if (matches(o)) res.write(line('ADDED', withKind(kind, o)));
    } else {
      for (const e of history) {
        if (e.rv <= fromRv) continue;
        const text = eventFor(w, e);
        if (text !== undefined) res.write(text);
      }
    }
    watchers.add(w);
    if (url.searchParams.get('allowWatchBookmarks') === 'true') {
      const tick = setInterval(() => {
        bookmarks.push(rv);
        res.write(line('BOOKMARK', { kind: kind === 'pods' ? 'Pod' : 'Namespace', apiVersion: 'v1', metadata: { resourceVersion: String(rv) } }));
      }, options.bookmarkIntervalMs ?? 100);
      w.timers.push(tick);
    }
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeout > 0) w.timers.push(setTimeout(() => endWatcher(w), timeout * 1000));
    res.on('close', () => endWatcher(w));
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    if (down) return send(res, 503, statusBody(503, 'ServiceUnavailable', 'the stand-in API is down'));
    const url = new URL(req.url ?? '/', 'http://api');
    if (req.method !== 'GET') return send(res, 405, statusBody(405, 'MethodNotAllowed', 'only GET is served'));
    const p = url.pathname;
    const podMatch = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p);
    const nsMatch = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(p);
    const collection: Kind | undefined = p === '/api/v1/pods' ? 'pods' : p === '/api/v1/namespaces' ? 'namespaces' : undefined;
    if (podMatch !== null || nsMatch !== null) {
      const kind: Kind = podMatch !== null ? 'pods' : 'namespaces';
      const key = podMatch !== null ? `${decodeURIComponent(podMatch[1] ?? '')}/${decodeURIComponent(podMatch[2] ?? '')}` : `/${decodeURIComponent(nsMatch?.[1] ?? '')}`;
      const o = objects[kind].get(key);
      if (o === undefined) return send(res, 404, statusBody(404, 'NotFound', `${kind} "${key.split('/')[1] ?? ''}" not found`));
      return send(res, 200, withKind(kind, o));
    }
    if (collection === undefined) return send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const watching = url.searchParams.get('watch');
    if (watching === 'true' || watching === '1') return watch(collection, url, res);
    const matches = fieldMatcher(url.searchParams.get('fieldSelector'));
    const items = [...objects[collection].values()].filter(matches).map((o) => withKind(collection, o));
    return send(res, 200, { kind: collection === 'pods' ? 'PodList' : 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });

  return {
    socketPath,
    requests,
    bookmarks,
    get resourceVersion() {
      return rv;
    },
    put(kind, object) {
      const previous = objects[kind].get(keyOf(object));
      const stored: KubeObject = { ...object, metadata: { ...object.metadata, resourceVersion: String(++rv) } };
      objects[kind].set(keyOf(stored), stored);
      record({ rv, kind, type: previous === undefined ? 'ADDED' : 'MODIFIED', object: stored, previous });
      return stored;
    },
    get(kind, namespace, name) {
      return objects[kind].get(`${namespace ?? ''}/${name}`);
    },
    delete(kind, namespace, name) {
      const key = `${namespace ?? ''}/${name}`;
      const previous = objects[kind].get(key);
      if (previous === undefined) return;
      objects[kind].delete(key);
      const object: KubeObject = { ...previous, metadata: { ...previous.metadata, resourceVersion: String(++rv) } };
      record({ rv, kind, type: 'DELETED', object, previous });
    },
    compact() {
      history.length = 0;
      oldestRv = rv + 1;
    },
    endWatches() {
      for (const w of [...watchers]) endWatcher(w);
    },
    openWatches(kind) {
      return [...watchers].filter((w) => w.kind === kind).length;
    },
    setDown(value) {
      down = value;
    },
    async close() {
      for (const w of [...watchers]) endWatcher(w);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A v1 Namespace with its labels (plus the `kubernetes.io/metadata.name` label every namespace carries). */
export function namespaceObject(name: string, labels: Record<string, string> = {}): KubeObject {
  return { metadata: { name, uid: `ns-${name}`, labels: { 'kubernetes.io/metadata.name': name, ...labels } }, spec: {}, status: { phase: 'Active' } };
}

export interface PodFields {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly nodeName?: string;
  readonly labels?: Record<string, string>;
  readonly serviceAccount?: string;
  /** Sets status.podIP/podIPs; none means the sandbox is still being set up. */
  readonly ip?: string;
  /** Default Running with an IP, Pending without. */
  readonly phase?: string;
  readonly deleting?: boolean;
  readonly hostNetwork?: boolean;
}

/** A v1 Pod as the API serves it. */
export function podObject(p: PodFields): KubeObject {
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: p.uid,
      labels: p.labels ?? {},
      ...(p.deleting === true ? { deletionTimestamp: '2025-01-01T00:00:00Z', deletionGracePeriodSeconds: 30 } : {}),
    },
    spec: {
      nodeName: p.nodeName ?? 'node1',
      ...(p.serviceAccount === undefined ? {} : { serviceAccountName: p.serviceAccount }),
      ...(p.hostNetwork === true ? { hostNetwork: true } : {}),
      containers: [{ name: 'app', image: 'app' }],
    },
    status: {
      phase: p.phase ?? (p.ip === undefined ? 'Pending' : 'Running'),
      ...(p.ip === undefined ? {} : { podIP: p.ip, podIPs: [{ ip: p.ip }] }),
    },
  };
}
