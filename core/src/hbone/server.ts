import {
  constants,
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { BlockList, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import { HboneError } from './errors.ts';
import {
  buffersOnly,
  CONNECTION_WINDOW_BYTES,
  formatHostPort,
  hboneSettings,
  keepAlive,
  MAX_SESSION_MEMORY_MB,
  parseIpAuthority,
  relay,
  unmapIp,
  type RelayCounts,
  type RelayResult,
} from './h2-util.ts';
import { SERVER_SOCKET_TLS, serverContextOptions, verifyClientIdentity, type WorkloadCert } from './tls-config.ts';

export interface HboneAuthorizeRequest {
  /** The client's SPIFFE ID, from its verified certificate. */
  readonly peerIdentity: string;
  /** The TCP peer of the HBONE connection (the client pod's IP: ztunnel spoofs it). */
  readonly srcAddr: { readonly ip: string; readonly port: number };
  /** The `:authority` target. */
  readonly dstAddr: { readonly host: string; readonly port: number };
  /** The local IP the connection arrived on (the destination pod's). */
  readonly localAddr: string;
}

export type HboneDecision = { readonly allow: true } | { readonly allow: false; readonly status: 400 | 401 | 503; readonly reason: string };

/** What the server knows about an accepted tunnel; handed to `connectUpstream` and to the close record. */
export interface HboneTunnelMeta extends HboneAuthorizeRequest {
  readonly authority: string;
  readonly traceparent: string | undefined;
  /** The raw `forwarded` header (e.g. `for="10.0.0.1:4321"`). */
  readonly forwarded: string | undefined;
  readonly baggage: string | undefined;
}

/** One per CONNECT stream, when it is finished (STYLE rule 13: recorded once, at close). */
export interface HboneTunnelRecord {
  readonly authority: string;
  /** The HTTP status answered (200, 400, 401, 503), or 0 when the client went away first. */
  readonly status: number;
  readonly reason: string | undefined;
  readonly meta: HboneTunnelMeta | undefined;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  readonly durationMs: number;
  readonly error: Error | undefined;
}

/** An accepted tunnel, as onTunnelOpen sees it. */
export interface HboneOpenTunnel {
  abort(reason: string): void;
  /** The CONNECT stream: its 'data' is what the client sent. */
  readonly stream: Duplex;
  /** The upstream connection: its 'data' is what goes back to the client. */
  readonly upstream: Duplex;
  /** Live byte counts: from the client (stream → upstream) and back to it (upstream → stream). */
  readonly bytes: RelayCounts;
}

/**
 * What a terminating server user (the waypoint) answers for a CONNECT stream, before 200 is sent: take it (the stream
 * is then the user's, 200 already answered) or refuse it with a status, as `authorize` does.
 */
export type HboneTakeDecision =
  { readonly allow: true; readonly take: (stream: ServerHttp2Stream) => void } | Extract<HboneDecision, { readonly allow: false }>;

interface HboneServerCommon {
  /** The destination pod's certificate, chosen by the local address the connection arrived on (HBONE has no SNI). */
  readonly certFor: (localIp: string) => WorkloadCert | undefined;
  /** Mesh root PEMs that client certificates must chain to. */
  readonly roots: () => readonly string[];
  /** Client certificates must carry exactly one SPIFFE ID in this trust domain. */
  readonly trustDomain: string;
  /** L4 policy; absent allows everything. A throw fails closed with 503. */
  readonly authorize?: (req: HboneAuthorizeRequest) => HboneDecision;
  /**
   * Called once per CONNECT stream when it is done. A taken stream (`takeTunnel`) is recorded with status 200 and no
   * byte counts: its owner parses what flows and counts it.
   */
  readonly onTunnelClose?: (record: HboneTunnelRecord) => void;
  /** Target ports refused with 400 (loop protection); default 15001, 15006, 15008. */
  readonly illegalPorts?: readonly number[];
  /** SETTINGS_MAX_CONCURRENT_STREAMS; default 100 (without it Node advertises no limit). */
  readonly maxConcurrentStreams?: number;
  /** TLS handshake, then the HTTP/2 preface, must each complete within this; default 10000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** A session with no streams for this long is closed; default 600000 ms. Open tunnels are never idled out. */
  readonly idleTimeoutMs?: number;
  /** Server-side PING keep-alive; defaults 10000 / 20000 ms. */
  readonly pingIntervalMs?: number;
  readonly pingTimeoutMs?: number;
  readonly log: Logger;
}

/** ztunnel's inbound: each tunnel is relayed to its target on this host (the `:authority` must be the local address). */
export interface HboneRelayOptions extends HboneServerCommon {
  /** Connects the tunnel's target; rejection answers 503. The Duplex must be half-open capable. */
  readonly connectUpstream: (target: { readonly host: string; readonly port: number }, meta: HboneTunnelMeta) => Promise<Duplex>;
  /**
   * Called when a tunnel is up (200 sent). `tunnel.abort` tears it down (stream reset, upstream reset): how live policy
   * re-checks close connections a new policy denies. `stream` and `upstream` may be observed (e.g. 'data' for byte
   * counters), not consumed. The returned function, if any, runs at close, before onTunnelClose.
   */
  readonly onTunnelOpen?: (meta: HboneTunnelMeta, tunnel: HboneOpenTunnel) => (() => void) | undefined;
  readonly takeTunnel?: undefined;
}

/**
 * A terminating server (the waypoint): the user takes each allowed CONNECT stream itself, with no upstream connected
 * here. The `:authority` is the original destination (a Service VIP or another pod), so it is not required to be the
 * local address; `takeTunnel` decides (after `authorize`), and a taken stream gets its 200 at once.
 */
export interface HboneTerminateOptions extends HboneServerCommon {
  readonly takeTunnel: (meta: HboneTunnelMeta) => HboneTakeDecision;
  readonly connectUpstream?: undefined;
  readonly onTunnelOpen?: undefined;
}

export type HboneServerOptions = HboneRelayOptions | HboneTerminateOptions;

export interface HboneServer {
  /** Takes an accepted TCP socket (the in-pod 15008 listener's); the server owns it from now on. */
  handle(socket: Socket): void;
  /** Sends GOAWAY on every session, waits up to `graceMs` (default 0) for tunnels to finish, then destroys the rest. */
  close(graceMs?: number): Promise<void>;
}

interface SessionState {
  readonly id: number;
  readonly session: ServerHttp2Session;
  readonly peerIdentity: string;
  readonly srcAddr: { readonly ip: string; readonly port: number };
  readonly localAddr: string;
  streams: number;
  idleTimer: NodeJS.Timeout | undefined;
}

const DEFAULT_ILLEGAL_PORTS = [15001, 15006, 15008];

function sameIp(a: string, b: string): boolean {
  if (a === b) return true;
  // IPv6 has many spellings of one address; BlockList compares the parsed form.
  if (isIP(a) !== 6 || isIP(b) !== 6) return false;
  const list = new BlockList();
  list.addAddress(a, 'ipv6');
  return list.check(b, 'ipv6');
}

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function createHboneServer(options: HboneServerOptions): HboneServer {
  const log = options.log.child({ component: 'hbone-server' });
  const illegalPorts = options.illegalPorts ?? DEFAULT_ILLEGAL_PORTS;
  const maxConcurrentStreams = options.maxConcurrentStreams ?? 100;
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
  const pingIntervalMs = options.pingIntervalMs ?? 10_000;
  const pingTimeoutMs = options.pingTimeoutMs ?? 20_000;
  // One TLS+HTTP/2 server object per destination address (never listening: sockets are emitted into it). It is
  // rebuilt when the certificate or the roots change; sessions already up keep the old one.
  const servers = new Map<string, { cert: WorkloadCert; roots: readonly string[]; server: Http2SecureServer }>();
  const sockets = new Set<Socket>();
  const sessions = new Set<SessionState>();
  let nextId = 1;
  let closed = false;

  function serverFor(localIp: string, cert: WorkloadCert): Http2SecureServer {
    const roots = options.roots();
    const cached = servers.get(localIp);
    if (cached !== undefined && cached.cert === cert && cached.roots === roots) return cached.server;
    const server = createSecureServer({
      ...serverContextOptions(cert, roots),
      ...SERVER_SOCKET_TLS,
      ALPNProtocols: [...SERVER_SOCKET_TLS.ALPNProtocols],
      handshakeTimeout: handshakeTimeoutMs,
      allowHTTP1: false,
      settings: hboneSettings({ maxConcurrentStreams, maxHeaderListSize: 64 * 1024 }),
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    });
    server.on('session', onSession);
    server.on('tlsClientError', (err, tlsSocket) => {
      log.debug({ err: errorMessage(err), peer: tlsSocket.remoteAddress }, 'HBONE TLS handshake failed');
    });
    // TLS sockets inherit allowHalfOpen from the accepted socket; a client's FIN ends its HTTP/2 connection.
    server.on('secureConnection', (tlsSocket: TLSSocket) => tlsSocket.once('end', () => tlsSocket.destroy()));
    server.on('unknownProtocol', (tlsSocket) => {
      log.debug({ peer: tlsSocket.remoteAddress }, 'HBONE client did not negotiate h2');
      tlsSocket.destroy();
    });
    servers.set(localIp, { cert, roots, server });
    return server;
  }

  function armIdle(state: SessionState): void {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => {
      state.idleTimer = undefined;
      if (state.streams === 0 && !state.session.closed) {
        log.debug({ session: state.id }, 'idle HBONE session closed');
        state.session.close();
      }
    }, idleTimeoutMs);
  }

  function onSession(session: ServerHttp2Session): void {
    // session.socket is Node's proxy of the TLS socket; reads and these getters pass through.
    const sock = session.socket as TLSSocket;
    let peerIdentity: string;
    try {
      peerIdentity = verifyClientIdentity(options.trustDomain, sock.getPeerCertificate());
    } catch (err) {
      log.info({ peer: sock.remoteAddress, err: errorMessage(err) }, 'HBONE client refused');
      session.destroy();
      return;
    }
    const state: SessionState = {
      id: nextId++,
      session,
      peerIdentity,
      srcAddr: { ip: unmapIp(sock.remoteAddress ?? ''), port: sock.remotePort ?? 0 },
      localAddr: unmapIp(sock.localAddress ?? ''),
      streams: 0,
      idleTimer: undefined,
    };
    sessions.add(state);
    // node-facts: some protocol errors (an oversized frame) get a GOAWAY but leave TCP open with no event, so the
    // preface deadline, the idle timer and PINGs are what end such sessions.
    const preface = setTimeout(() => {
      log.debug({ session: state.id }, 'no HTTP/2 preface in time');
      session.destroy();
    }, handshakeTimeoutMs);
    session.once('remoteSettings', () => clearTimeout(preface));
    session.on('error', (err) => log.debug({ session: state.id, err: errorMessage(err) }, 'HBONE session error'));
    session.on('frameError', (type: number, code: number) => log.debug({ session: state.id, type, code }, 'HTTP/2 frame error'));
    session.once('close', () => {
      clearTimeout(preface);
      clearTimeout(state.idleTimer);
      sessions.delete(state);
    });
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    keepAlive(session, pingIntervalMs, pingTimeoutMs, (err) => {
      log.info({ session: state.id, peer: state.srcAddr.ip }, err.message);
      session.destroy();
    });
    session.on('stream', (stream, headers) => onStream(state, stream, headers));
    armIdle(state);
  }

  function onStream(state: SessionState, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const startedMs = performance.now();
    buffersOnly(stream);
    state.streams += 1;
    clearTimeout(state.idleTimer);
    state.idleTimer = undefined;
    stream.on('close', () => {
      state.streams -= 1;
      if (state.streams === 0 && !state.session.closed) armIdle(state);
    });
    const authority = firstHeader(headers, ':authority') ?? '';
    const record = (status: number, reason: string | undefined, meta?: HboneTunnelMeta, r?: RelayResult): void => {
      const rec: HboneTunnelRecord = {
        authority,
        status,
        reason,
        meta,
        bytesFromClient: r?.bytesFromTunnel ?? 0,
        bytesToClient: r?.bytesToTunnel ?? 0,
        durationMs: performance.now() - startedMs,
        error: r?.error,
      };
      log.debug({ session: state.id, peer: state.peerIdentity, authority, status, reason }, 'HBONE tunnel closed');
      options.onTunnelClose?.(rec);
    };
    const refuse = (status: 400 | 401 | 503, reason: string, meta?: HboneTunnelMeta): void => {
      // Errors after the client went away must not be uncaught; the record below is the outcome.
      stream.on('error', () => {});
      if (!stream.destroyed && !stream.closed && !stream.headersSent) stream.respond({ ':status': status }, { endStream: true });
      record(status, reason, meta);
    };
    if (headers[':method'] !== 'CONNECT') return refuse(400, `method ${String(headers[':method'])} is not CONNECT`);
    const target = parseIpAuthority(authority);
    if (target === undefined) return refuse(400, 'authority is not ip:port');
    if (options.takeTunnel === undefined && !sameIp(target.host, state.localAddr))
      return refuse(400, `authority IP is not the destination address ${state.localAddr}`);
    if (illegalPorts.includes(target.port)) return refuse(400, `port ${target.port} is not a valid target`);
    const req: HboneAuthorizeRequest = {
      peerIdentity: state.peerIdentity,
      srcAddr: state.srcAddr,
      dstAddr: target,
      localAddr: state.localAddr,
    };
    let decision: HboneDecision;
    try {
      decision = options.authorize?.(req) ?? { allow: true };
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'authorization failed');
      decision = { allow: false, status: 503, reason: `authorization failed: ${errorMessage(err)}` };
    }
    const tunnelMeta: HboneTunnelMeta = {
      ...req,
      authority,
      traceparent: firstHeader(headers, 'traceparent'),
      forwarded: firstHeader(headers, 'forwarded'),
      baggage: firstHeader(headers, 'baggage'),
    };
    // The record of a refused tunnel carries who asked, so denials can be logged and counted per source.
    if (!decision.allow) return refuse(decision.status, decision.reason, tunnelMeta);
    stream.on('error', (err) => log.debug({ session: state.id, err: errorMessage(err) }, 'HBONE stream error'));
    if (options.takeTunnel !== undefined) return take(options.takeTunnel, stream, tunnelMeta, record, refuse);
    // Upstream first, then 200: connect failures surface as a status, not a reset (reference §1 "Response").
    options.connectUpstream(target, tunnelMeta).then(
      (upstream) => {
        if (stream.destroyed || stream.closed) {
          upstream.destroy();
          record(0, 'client went away before upstream connected', tunnelMeta);
          return;
        }
        stream.respond({ ':status': 200 });
        let abortReason: string | undefined;
        // The relay's close callbacks run on later ticks, after onTunnelOpen has answered.
        const opened: { dispose?: (() => void) | undefined } = {};
        const bytes = relay(stream, upstream, (r) => {
          opened.dispose?.();
          record(200, abortReason, tunnelMeta, r);
        });
        opened.dispose = options.onTunnelOpen?.(tunnelMeta, {
          abort: (reason) => {
            abortReason ??= reason;
            if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
            upstream.destroy();
          },
          stream,
          upstream,
          bytes,
        });
      },
      (err: unknown) => refuse(503, `upstream ${formatHostPort(target.host, target.port)} unavailable: ${errorMessage(err)}`, tunnelMeta),
    );
  }

  function take(
    takeTunnel: HboneTerminateOptions['takeTunnel'],
    stream: ServerHttp2Stream,
    meta: HboneTunnelMeta,
    record: (status: number, reason: string | undefined, meta?: HboneTunnelMeta) => void,
    refuse: (status: 400 | 401 | 503, reason: string, meta?: HboneTunnelMeta) => void,
  ): void {
    let decision: HboneTakeDecision;
    try {
      decision = takeTunnel(meta);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'tunnel owner failed');
      decision = { allow: false, status: 503, reason: `tunnel owner failed: ${errorMessage(err)}` };
    }
    if (!decision.allow) return refuse(decision.status, decision.reason, meta);
    stream.respond({ ':status': 200 });
    stream.once('close', () => record(200, undefined, meta));
    decision.take(stream);
  }

  return {
    handle(socket) {
      if (closed) {
        socket.destroy();
        return;
      }
      const localIp = unmapIp(socket.localAddress ?? '');
      const cert = options.certFor(localIp);
      if (cert === undefined) {
        log.info({ localIp, peer: socket.remoteAddress }, 'HBONE connection to an address with no local workload certificate');
        socket.destroy();
        return;
      }
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // An error before TLS takes the socket over (a reset during accept) must not be uncaught.
      socket.on('error', (err) => log.debug({ err: errorMessage(err) }, 'HBONE socket error'));
      serverFor(localIp, cert).emit('connection', socket);
    },
    async close(graceMs = 0) {
      closed = true;
      const waits = [...sockets].map(
        (s) => new Promise<void>((resolve) => (s.destroyed && s.closed ? resolve() : s.once('close', () => resolve()))),
      );
      for (const s of sessions) {
        clearTimeout(s.idleTimer);
        if (!s.session.closed) s.session.close();
      }
      const deadline = setTimeout(() => {
        for (const s of sessions) s.session.destroy(new HboneError('HBONE_SERVER_CLOSED', 'HBONE server closed'));
        for (const s of sockets) s.destroy();
      }, graceMs);
      await Promise.all(waits);
      clearTimeout(deadline);
      servers.clear();
    },
  };
}
