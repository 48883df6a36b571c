import { randomBytes } from 'node:crypto';
import {
  connect as h2Connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { HboneError, rstCodeName, statusError } from './errors.ts';
import { buffersOnly, CONNECTION_WINDOW_BYTES, formatHostPort, hboneSettings, keepAlive, MAX_SESSION_MEMORY_MB } from './h2-util.ts';
import { clientTlsOptions, type WorkloadCert } from './tls-config.ts';

export interface NextHop {
  readonly host: string;
  readonly port: number;
}

export interface HbonePoolOptions {
  /**
   * Makes the TCP socket of a new session (the ztunnel's comes from the in-pod socket factory). It may return a
   * connecting socket (`net.connect`) or an unconnected one (`new net.Socket({ fd })`), which the pool connects to
   * `nextHop`. It should be created with `allowHalfOpen: true`.
   */
  readonly connect: (nextHop: NextHop, srcIdentity: string) => Socket;
  /** The certificate presented as `srcIdentity`. */
  readonly certFor: (srcIdentity: string) => Promise<WorkloadCert>;
  /** Mesh root PEMs, read per new session so rotated roots apply. */
  readonly roots: () => readonly string[];
  readonly log: Logger;
  /** Streams per HTTP/2 session before another is opened (also capped by the peer's SETTINGS); default 100. */
  readonly maxStreamsPerConnection?: number;
  /** A session with no streams for this long is closed; default 300000 ms (ztunnel POOL_UNUSED_RELEASE_TIMEOUT). */
  readonly idleTimeoutMs?: number;
  /** PING every this often; default 10000 ms. */
  readonly pingIntervalMs?: number;
  /** Tear the session down when a PING is unanswered this long; default 20000 ms. */
  readonly pingTimeoutMs?: number;
  /** TCP + TLS set-up deadline of a new session; default 10000 ms (ztunnel's connect timeout). */
  readonly connectTimeoutMs?: number;
}

export interface HboneOpenRequest {
  readonly srcIdentity: string;
  /** SPIFFE IDs the server's certificate may carry (destination workload ∪ service SANs). */
  readonly dstIdentities: readonly string[];
  /** Where the TCP connection goes: the destination pod (or waypoint) IP, port 15008. */
  readonly nextHop: NextHop;
  /** `:authority`: the final `ip:port` (or service VIP:port via a waypoint). */
  readonly authority: string;
  /** Original client `ip:port`, sent as `forwarded: for="…"`. */
  readonly forwardedFor?: string;
  /** Extra request headers (e.g. `baggage`); pseudo-headers cannot be overridden. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface HbonePoolStats {
  readonly sessions: number;
  readonly streams: number;
}

export interface HbonePool {
  /**
   * Opens a tunnel. Resolves with the CONNECT stream once the server answered 200; rejects with an HboneError
   * otherwise (`POLICY_DENIED` for 401, `UPSTREAM_UNAVAILABLE` for 503, … see errors.ts). The stream is
   * half-close capable (`end()` sends END_STREAM, the reply keeps flowing) and only ever hands Buffers to HTTP/2
   * (strings are encoded first: see `buffersOnly` for the Node bug this avoids).
   */
  open(req: HboneOpenRequest): Promise<ClientHttp2Stream>;
  stats(): HbonePoolStats;
  /** Destroys every session (and its tunnels); resolves when their sockets are closed. */
  close(): Promise<void>;
}

interface PooledSession extends SessionState {
  /** Settles when the session is up (it may have closed since). */
  readonly ready: Promise<ClientHttp2Session>;
}

/**
 * How often a CONNECT the peer did not process (REFUSED_STREAM, ENHANCE_YOUR_CALM, past a GOAWAY) is sent again, each
 * time on another session. More than one: when a peer ztunnel drains it GOAWAYs all of its sessions at once, and the
 * first retry can land on a second session whose GOAWAY is still in flight.
 */
const MAX_REFUSED_RETRIES = 3;

interface SessionState {
  readonly id: number;
  readonly key: string;
  session: ClientHttp2Session | undefined;
  /** Streams reserved or open on this session. */
  streams: number;
  maxStreams: number;
  /** No new streams: closing, GOAWAY received, or failed. */
  draining: boolean;
  gotSettings: boolean;
  /** The peer sent GOAWAY: streams it did not take may be retried elsewhere (RFC 9113 §6.8). */
  goaway: boolean;
  error: Error | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** Resolves when the session is gone and removed from the pool. */
  readonly gone: Promise<void>;
}

/** W3C trace context: random per tunnel, as ztunnel (version 00, not sampled). */
function traceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
}

function poolKey(req: HboneOpenRequest): string {
  // JSON keeps the parts unambiguous whatever characters identities hold.
  return JSON.stringify([req.srcIdentity, [...req.dstIdentities].sort(), formatHostPort(req.nextHop.host, req.nextHop.port)]);
}

export function createHbonePool(options: HbonePoolOptions): HbonePool {
  const log = options.log.child({ component: 'hbone-pool' });
  const maxStreamsPerConnection = options.maxStreamsPerConnection ?? 100;
  const idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
  const pingIntervalMs = options.pingIntervalMs ?? 10_000;
  const pingTimeoutMs = options.pingTimeoutMs ?? 20_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const pools = new Map<string, PooledSession[]>();
  let nextId = 1;
  let closed = false;

  function remove(entry: PooledSession): void {
    const list = pools.get(entry.key);
    if (list === undefined) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) pools.delete(entry.key);
  }

  function release(entry: PooledSession): void {
    entry.streams -= 1;
    if (entry.streams > 0 || entry.session === undefined || entry.draining) return;
    clearTimeout(entry.idleTimer);
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = undefined;
      if (entry.streams > 0) return;
      log.debug({ session: entry.id }, 'idle HBONE session closed');
      entry.draining = true;
      entry.session?.close();
    }, idleTimeoutMs);
  }

  async function establish(entry: SessionState, req: HboneOpenRequest, onGone: () => void): Promise<ClientHttp2Session> {
    let cert: WorkloadCert;
    try {
      cert = await options.certFor(req.srcIdentity);
    } catch (err) {
      throw new HboneError('HBONE_CONNECT_FAILED', `no certificate for ${req.srcIdentity}`, { cause: err });
    }
    if (closed) throw new HboneError('HBONE_POOL_CLOSED', 'HBONE pool is closed');
    const { host, port } = req.nextHop;
    let raw: Socket;
    try {
      raw = options.connect(req.nextHop, req.srcIdentity);
      // A factory socket that is neither connecting nor connected is ours to connect (node-facts: in-namespace fds).
      if (!raw.connecting && raw.remoteAddress === undefined && !raw.destroyed) raw.connect(port, host);
    } catch (err) {
      throw new HboneError('HBONE_CONNECT_FAILED', `cannot make a socket to ${formatHostPort(host, port)}: ${String(err)}`, { cause: err });
    }
    const tlsSocket = tlsConnect({ socket: raw, ...clientTlsOptions(cert, options.roots(), req.dstIdentities) });
    const session = h2Connect(`https://${formatHostPort(host, port)}`, {
      createConnection: () => tlsSocket,
      settings: hboneSettings({ maxHeaderListSize: 16 * 1024 }),
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    });
    entry.session = session;
    raw.on('error', (err) => session.destroy(err));
    // The TLS socket inherits allowHalfOpen from the factory's socket, and HTTP/2 has no use for a half-open
    // connection: the peer's FIN ends the session (TLS 1.3 servers close just so on a rejected client certificate).
    tlsSocket.once('end', () => {
      const why = entry.gotSettings
        ? 'peer closed the connection'
        : 'peer closed the connection during set-up (client certificate rejected?)';
      entry.error ??= new Error(why);
      session.destroy();
    });
    session.on('error', (err: Error) => {
      entry.error ??= err;
      log.debug({ session: entry.id, err }, 'HBONE session error');
    });
    session.on('remoteSettings', (s) => {
      entry.gotSettings = true;
      entry.maxStreams = Math.min(maxStreamsPerConnection, s.maxConcurrentStreams ?? Infinity);
    });
    session.on('goaway', (code: number) => {
      // RFC 9113 §6.8: no new streams on this session; the ones below the last stream id finish.
      log.debug({ session: entry.id, code: rstCodeName(code) }, 'GOAWAY received');
      entry.draining = true;
      entry.goaway = true;
      if (!session.closed) session.close();
    });
    session.once('close', () => {
      entry.draining = true;
      clearTimeout(entry.idleTimer);
      log.debug({ session: entry.id, err: entry.error }, 'HBONE session closed');
      onGone();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.destroy(
          new HboneError(
            'HBONE_CONNECT_TIMEOUT',
            `HBONE connect to ${formatHostPort(host, port)} timed out after ${connectTimeoutMs} ms (maybe a NetworkPolicy is blocking port 15008)`,
          ),
        );
      }, connectTimeoutMs);
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        session.off('connect', onConnect);
        session.off('close', onClose);
        if (err === undefined) resolve();
        else reject(err);
      };
      const onConnect = (): void => settle();
      const onClose = (): void => settle(connectFailure(entry, req));
      session.once('connect', onConnect);
      session.once('close', onClose);
    });
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    keepAlive(session, pingIntervalMs, pingTimeoutMs, (err) => {
      log.warn({ session: entry.id, nextHop: formatHostPort(host, port) }, err.message);
      entry.error ??= err;
      session.destroy(err);
    });
    return session;
  }

  function connectFailure(entry: SessionState, req: HboneOpenRequest): HboneError {
    const cause = entry.error;
    if (cause instanceof HboneError) return cause;
    return new HboneError(
      'HBONE_CONNECT_FAILED',
      `HBONE session to ${formatHostPort(req.nextHop.host, req.nextHop.port)} failed: ${cause?.message ?? 'closed'}`,
      {
        cause,
      },
    );
  }

  function createEntry(key: string, req: HboneOpenRequest): PooledSession {
    let markGone = (): void => {};
    const gone = new Promise<void>((resolve) => {
      markGone = resolve;
    });
    const state: SessionState = {
      id: nextId++,
      key,
      session: undefined,
      streams: 0,
      maxStreams: maxStreamsPerConnection,
      draining: false,
      gotSettings: false,
      goaway: false,
      error: undefined,
      idleTimer: undefined,
      gone,
    };
    const finish = (): void => {
      remove(entry);
      markGone();
    };
    // Same object: establish() updates the state the pool reads.
    const entry: PooledSession = Object.assign(state, { ready: establish(state, req, finish) });
    entry.ready.catch((err: unknown) => {
      entry.draining = true;
      log.debug({ session: entry.id, err }, 'HBONE session set-up failed');
      if (entry.session === undefined) finish();
    });
    const list = pools.get(key) ?? [];
    list.push(entry);
    pools.set(key, list);
    return entry;
  }

  function pick(key: string, req: HboneOpenRequest): PooledSession {
    const usable = pools.get(key)?.find((e) => !e.draining && e.streams < e.maxStreams);
    const entry = usable ?? createEntry(key, req);
    entry.streams += 1;
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    return entry;
  }

  function request(entry: PooledSession, session: ClientHttp2Session, req: HboneOpenRequest): Promise<ClientHttp2Stream> {
    const headers: OutgoingHttpHeaders = { ...req.headers, traceparent: traceparent() };
    if (req.forwardedFor !== undefined) headers['forwarded'] = `for="${req.forwardedFor}"`;
    // CONNECT carries only :method and :authority (RFC 9113 §8.5); Node refuses :path/:scheme on CONNECT.
    headers[':method'] = 'CONNECT';
    headers[':authority'] = req.authority;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (err) {
      release(entry);
      // Nothing was sent (the session is closing): another session may take it.
      return Promise.reject(new HboneError('HBONE_STREAM_REFUSED', `cannot open a stream: ${String(err)}`, { cause: err }));
    }
    buffersOnly(stream);
    stream.on('close', () => release(entry));
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        stream.off('response', onResponse);
        stream.off('error', onError);
        stream.off('close', onClose);
      };
      const onResponse = (h: IncomingHttpHeaders & IncomingHttpStatusHeader): void => {
        cleanup();
        const status = Number(h[':status']);
        if (status === 200) {
          resolve(stream);
          return;
        }
        stream.close(constants.NGHTTP2_CANCEL);
        // The stream has no other listener now: keep its late errors from becoming uncaught.
        stream.on('error', () => {});
        reject(statusError(status, req.authority));
      };
      const failure = (cause: Error | undefined): HboneError => {
        if (!entry.gotSettings) return connectFailure(entry, req);
        const rst = stream.rstCode ?? constants.NGHTTP2_INTERNAL_ERROR;
        // A stream the peer did not process, so safe to send again, on another session, since this one takes no more:
        // - REFUSED_STREAM: a draining ztunnel refuses what reaches it past its GOAWAY (RFC 9113 §8.7), and its
        //   GOAWAY may still be in flight; retried on the same session it is refused again (a hand-over under load
        //   lost 38 requests so, each refused three times);
        // - ENHANCE_YOUR_CALM: Node's HTTP/2 server answers a HEADERS it cannot take so, before the stream exists: its
        //   count of open streams is at SETTINGS_MAX_CONCURRENT_STREAMS (under load that count lags behind the ends of
        //   the streams, so it is reached before our own count is) or its session memory is spent.
        // Either way the session takes no new streams and closes once its tunnels end; the retry goes to another one.
        const refusedCode = rst === constants.NGHTTP2_REFUSED_STREAM || rst === constants.NGHTTP2_ENHANCE_YOUR_CALM;
        if (refusedCode && !entry.draining) {
          entry.draining = true;
          log.debug({ session: entry.id, rst: rstCodeName(rst) }, 'peer refused a stream: session retired');
          if (entry.session !== undefined && !entry.session.closed) entry.session.close();
        }
        const refused = refusedCode || entry.goaway;
        return new HboneError(
          refused ? 'HBONE_STREAM_REFUSED' : 'HBONE_STREAM_RESET',
          `HBONE CONNECT to ${req.authority} reset (${rstCodeName(rst)}) before a response`,
          {
            cause: cause ?? entry.error,
            rstCode: rst,
          },
        );
      };
      const onError = (err: Error): void => {
        cleanup();
        stream.on('error', () => {});
        reject(failure(err));
      };
      const onClose = (): void => {
        cleanup();
        reject(failure(undefined));
      };
      stream.once('response', onResponse);
      stream.once('error', onError);
      stream.once('close', onClose);
    });
  }

  async function open(req: HboneOpenRequest, attempt = 0): Promise<ClientHttp2Stream> {
    if (closed) throw new HboneError('HBONE_POOL_CLOSED', 'HBONE pool is closed');
    const entry = pick(poolKey(req), req);
    let session: ClientHttp2Session;
    try {
      session = await entry.ready;
    } catch (err) {
      entry.streams -= 1;
      throw err;
    }
    // The session went away (GOAWAY, PING timeout) between set-up and now: another try on a fresh one.
    if ((session.closed || session.destroyed || entry.draining) && attempt < MAX_REFUSED_RETRIES && !closed) {
      entry.streams -= 1;
      return open(req, attempt + 1);
    }
    try {
      return await request(entry, session, req);
    } catch (err) {
      if (attempt < MAX_REFUSED_RETRIES && !closed && err instanceof HboneError && err.code === 'HBONE_STREAM_REFUSED')
        return open(req, attempt + 1);
      throw err;
    }
  }

  return {
    open: (req) => open(req),
    stats() {
      let sessions = 0;
      let streams = 0;
      for (const list of pools.values()) {
        for (const e of list) {
          sessions += 1;
          streams += e.streams;
        }
      }
      return { sessions, streams };
    },
    async close() {
      closed = true;
      const entries = [...pools.values()].flat();
      for (const e of entries) {
        e.draining = true;
        clearTimeout(e.idleTimer);
        e.session?.destroy();
      }
      await Promise.all(entries.map((e) => e.gone));
    },
  };
}
