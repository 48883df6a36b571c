import type { ServerHttp2Stream } from 'node:http2';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { errorMessage } from '@ambit/core';
import { createHboneServer, formatHostPort, parseIpAuthority, type HboneTakeDecision, type HboneTunnelMeta } from '@ambit/core/hbone';
import { createTrafficClusters } from '../traffic/clusters.ts';
import { createBalancer } from './balancer.ts';
import { isBoundHere, resolveDestination, type Destination } from './destination.ts';
import { createH2Server } from './h2-server.ts';
import { forwardedForIp } from './headers.ts';
import { startHttp1Server, type Http1Limits } from './http1-server.ts';
import type { WaypointInputs } from './proxy-inputs.ts';
import type { TunnelContext } from './request-path.ts';
import { sniffProtocol } from './sniff.ts';
import { createTrafficGuards, type TrafficGuards } from './traffic-guards.ts';
import { asSocket } from './stream-socket.ts';
import { passThrough } from './tcp-proxy.ts';
import { createUpstreamConnections } from './upstream.ts';

/** The waypoint's 15008 listener: terminates HBONE from source ztunnels and serves what each tunnel carries. */
export interface WaypointListener {
  address(): { address: string; port: number };
  /** Stops accepting, sends GOAWAY, waits up to `graceMs` (default 0) for tunnels to finish, then closes the rest. */
  close(graceMs?: number): Promise<void>;
  stats(): Record<string, number>;
}

/** HBONE inbound port (reference istio-ambient.md §1). */
export const HBONE_PORT = 15008;

/**
 * How long a tunnel to a port with no declared protocol may stay silent before it is treated as TCP. An HTTP client
 * writes its request right after connecting, so its first bytes follow the tunnel's 200 within one hop's round trip;
 * 200 ms leaves room for a busy node, and is what a server-first protocol (MySQL, SMTP: the client waits for the
 * server to speak) pays once per connection. Envoy's old default for Istio was 100 ms.
 */
export const SNIFF_DEADLINE_MS = 200;

/** Tuning beyond contract 9's host/port (all optional): tests shorten the timeouts. */
export interface WaypointListenerTuning extends Http1Limits {
  /** HBONE TLS handshake and HTTP/2 preface deadline; default 10000 ms. */
  readonly handshakeTimeoutMs?: number;
  readonly sniffDeadlineMs?: number;
  /** Rate-limit buckets, retry budgets and fault draws; default real time and Math.random (tests inject them). */
  readonly guards?: TrafficGuards;
}

export async function startWaypointListener(
  inputs: WaypointInputs,
  opts: { host?: string; port?: number; tuning?: WaypointListenerTuning } = {},
): Promise<WaypointListener> {
  const log = inputs.log.child({ component: 'waypoint-listener' });
  const tuning = opts.tuning ?? {};
  const counters = { tunnelsAccepted: 0, tunnelsRefused: 0, tunnelsOpen: 0, http1: 0, h2: 0, tcp: 0 };
  const balancer = createBalancer();
  const clusters = createTrafficClusters(inputs.state, inputs.telemetry);
  const upstreams = createUpstreamConnections(inputs);
  const http1 = await startHttp1Server(tuning);
  const h2 = createH2Server({}, log);
  const sniffDeadlineMs = tuning.sniffDeadlineMs ?? SNIFF_DEADLINE_MS;
  const guards = tuning.guards ?? createTrafficGuards();

  function contextFor(meta: HboneTunnelMeta, destination: Destination): TunnelContext {
    const clientIp = forwardedForIp(meta.forwarded) ?? meta.srcAddr.ip;
    return {
      inputs,
      upstreams,
      balancer,
      clusters,
      destination,
      sourcePrincipal: meta.peerIdentity,
      source: inputs.state.workloadByIp(clientIp),
      clientIp,
      sourceAddr: formatHostPort(meta.srcAddr.ip, meta.srcAddr.port),
      guards,
    };
  }

  /** Accepted tunnel → the protocol its port declares (or the sniffer finds) → that protocol's server. */
  async function serveTunnel(stream: ServerHttp2Stream, ctx: TunnelContext, target: { host: string; port: number }): Promise<void> {
    counters.tunnelsOpen += 1;
    stream.once('close', () => (counters.tunnelsOpen -= 1));
    let protocol: 'http1' | 'h2' | 'tcp';
    let leftover: Buffer | undefined;
    switch (ctx.destination.appProtocol) {
      case 'HTTP11':
        protocol = 'http1';
        break;
      case 'HTTP2':
      case 'GRPC':
        protocol = 'h2';
        break;
      case 'TCP':
      case 'TLS':
        protocol = 'tcp';
        break;
      case 'UNKNOWN':
        ({ protocol, leftover } = await sniffProtocol(stream, sniffDeadlineMs));
        break;
    }
    counters[protocol] += 1;
    if (protocol === 'tcp') return passThrough(ctx, stream, leftover);
    const addresses = { remoteAddress: ctx.clientIp, remotePort: 0, localAddress: target.host, localPort: target.port };
    const socket = asSocket(stream, addresses);
    if (protocol === 'http1') http1.serve(socket, ctx);
    else h2.serve(socket, ctx);
    // The sniffer paused the stream explicitly, and a new 'data' listener does not resume such a stream by itself.
    if (ctx.destination.appProtocol === 'UNKNOWN') socket.resume();
  }

  const hbone = createHboneServer({
    // HBONE has no SNI: every address of the pod presents the waypoint's one certificate.
    certFor: () => inputs.cert(),
    roots: inputs.roots,
    trustDomain: inputs.config.trustDomain,
    maxConcurrentStreams: 100,
    handshakeTimeoutMs: tuning.handshakeTimeoutMs ?? 10_000,
    takeTunnel: (meta: HboneTunnelMeta): HboneTakeDecision => {
      const target = parseIpAuthority(meta.authority);
      const destination = target === undefined ? undefined : resolveDestination(inputs.state, target.host, target.port);
      if (target === undefined || destination === undefined) {
        counters.tunnelsRefused += 1;
        return { allow: false, status: 503, reason: `${meta.authority} is neither a Service nor a workload this waypoint knows` };
      }
      if (!isBoundHere(destination, inputs.config.gateway, inputs.state)) {
        counters.tunnelsRefused += 1;
        const gw = `${inputs.config.gateway.namespace}/${inputs.config.gateway.name}`;
        return { allow: false, status: 503, reason: `${meta.authority} does not use waypoint ${gw}` };
      }
      counters.tunnelsAccepted += 1;
      const ctx = contextFor(meta, destination);
      return {
        allow: true,
        take: (stream) => {
          serveTunnel(stream, ctx, target).catch((err: unknown) => {
            log.warn({ err: errorMessage(err), authority: meta.authority }, 'tunnel failed');
            if (!stream.destroyed) stream.close(0x2);
          });
        },
      };
    },
    log: inputs.log,
  });
  const server: Server = createServer({ allowHalfOpen: true }, (s: Socket) => hbone.handle(s));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? HBONE_PORT, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await http1.close();
    throw err;
  });
  log.info({ address: server.address() }, 'waypoint HBONE listener up');
  return {
    address() {
      const a = server.address() as AddressInfo;
      return { address: a.address, port: a.port };
    },
    async close(graceMs = 0) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await hbone.close(graceMs);
      await closed;
      await Promise.all([http1.close(), h2.close(), upstreams.close()]);
      clusters.close();
    },
    stats: () => ({ ...counters, ...upstreams.stats(), ...clusters.stats() }),
  };
}
