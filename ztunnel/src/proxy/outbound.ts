import type { Socket } from 'node:net';
import type { Service, Workload } from '@ambit/core';
import { errorMessage, HBONE_PORT } from '@ambit/core';
import { formatHostPort, HboneError, relay, unmapIp, type HbonePool } from '@ambit/core/hbone';
import { connectFromNetns, getOriginalDst, socketFdOf } from '../native/index.ts';
import { workloadIdentity } from '../state/mesh-state.ts';
import type { ConnectionLabelsInput } from '@ambit/core/telemetry';
import { logAccess } from '../telemetry/index.ts';
import { pipeSockets } from './pipe-sockets.ts';
import { INPOD_MARK, ZTUNNEL_PORTS } from './ports.ts';
import type { ProxyInputs } from './proxy-inputs.ts';

/** The source pod as the outbound path needs it. */
export interface OutboundSource {
  readonly netnsFd: number;
  /** The pod's SPIFFE ID: the certificate its tunnels present. */
  readonly identity: string;
  readonly name: string;
  readonly namespace: string;
  readonly ips: readonly string[];
  /** This pod's HBONE pool: its sockets live in the pod's namespace, so it is not shared with other pods. */
  readonly pool: HbonePool;
}

/**
 * One connection the pod's capture rules redirected to 15001 (DESIGN §3 "Outbound"): read its original destination,
 * resolve it against the mesh state, then tunnel it over HBONE to the destination pod's 15008 (mesh destination),
 * pass it through as plain TCP (not in the mesh), or refuse it at once (a Service with no healthy endpoint). Every
 * upstream socket is created inside the source pod's namespace with the ztunnel mark, so the pod's own rules let it
 * out and the peer sees the pod's IP. Reported as `reporter="source"`, with one access line at close.
 */
export function handleOutbound(client: Socket, src: OutboundSource, inputs: ProxyInputs): void {
  const started = performance.now();
  const srcAddr = formatHostPort(unmapIp(client.remoteAddress ?? ''), client.remotePort ?? 0);
  const { telemetry, state, log } = inputs;
  client.on('error', () => {});
  let orig: { address: string; port: number };
  try {
    const o = getOriginalDst(socketFdOf(client));
    orig = { address: unmapIp(o.address), port: o.port };
  } catch (err) {
    log.warn({ pod: `${src.namespace}/${src.name}`, err: errorMessage(err) }, 'outbound connection without an original destination');
    telemetry.health.error('no_original_dst');
    client.resetAndDestroy();
    return;
  }
  const srcWorkload = state.workloadByIp(src.ips[0] ?? '');
  const access = (
    dstAddr: string,
    hboneAddr: string | undefined,
    service: Service | undefined,
    dstWorkload: Workload | undefined,
    sent: number,
    recv: number,
    error: string | undefined,
  ): void =>
    logAccess(telemetry.access, {
      direction: 'outbound',
      srcAddr,
      srcWorkload,
      srcIdentity: src.identity,
      dstAddr,
      hboneAddr,
      dstService: service?.hostname,
      dstWorkload,
      bytesSent: sent,
      bytesRecv: recv,
      durationMs: performance.now() - started,
      error,
    });
  const labels = (destination: Workload | undefined, service: Service | undefined, mtls: boolean): ConnectionLabelsInput => ({
    reporter: 'source',
    source: srcWorkload,
    sourcePrincipal: src.identity,
    destination,
    service,
    mtls,
  });
  const dst = formatHostPort(orig.address, orig.port);
  // A connection made straight to a ztunnel port would come back to us forever.
  if (src.ips.includes(orig.address) && ZTUNNEL_PORTS.includes(orig.port)) {
    client.resetAndDestroy();
    telemetry.health.error('loop');
    access(dst, undefined, undefined, undefined, 0, 0, 'loop to a ztunnel port');
    return;
  }
  const dest = state.resolve(orig.address, orig.port, srcWorkload);
  if (dest.kind === 'no-healthy-upstream' || dest.kind === 'no-healthy-waypoint') {
    client.resetAndDestroy();
    const waypoint = dest.kind === 'no-healthy-waypoint';
    telemetry.health.error(waypoint ? 'no_healthy_waypoint' : 'no_healthy_upstream');
    telemetry.metrics.refused(labels(undefined, dest.service, false), 'CONNECT');
    access(dst, undefined, dest.service, undefined, 0, 0, waypoint ? `no healthy waypoint: ${dest.reason}` : 'no healthy upstream');
    return;
  }
  // Through a waypoint (contract 5): the tunnel goes to the waypoint pod, :authority stays the ORIGINAL destination
  // (VIP:port or podIP:port) so the waypoint routes it, and the waypoint must present its own identity. Metrics and
  // the access line name the waypoint as the destination workload and the addressed Service as the destination
  // service, as Istio's ztunnel reports it (`actual_destination_workload` / `intended_destination_service`).
  // Otherwise an HBONE workload: straight to its 15008, :authority its pod IP and the resolved target port.
  const tunnel: TunnelPlan | undefined =
    dest.kind === 'waypoint'
      ? { peer: dest.waypoint, service: dest.service, nextHop: dest.nextHop, authority: dst, identities: dest.identities }
      : dest.kind === 'workload' && dest.workload.tunnelProtocol === 'HBONE'
        ? tunnelToWorkload(dest.workload, dest.port, dest.service, orig.address)
        : undefined;
  if (tunnel !== undefined) {
    const w = tunnel.peer;
    const hboneAddr = tunnel.authority;
    const nextHop = formatHostPort(tunnel.nextHop.host, tunnel.nextHop.port);
    const service = tunnel.service;
    src.pool
      .open({
        srcIdentity: src.identity,
        dstIdentities: tunnel.identities,
        nextHop: tunnel.nextHop,
        authority: hboneAddr,
        forwardedFor: srcAddr,
      })
      .then(
        (stream) => {
          const m = telemetry.metrics.open(labels(w, service, true));
          if (client.destroyed) {
            stream.close();
            m.close('CONNECT');
            access(nextHop, hboneAddr, service, w, 0, 0, 'client went away');
            return;
          }
          const bytes = relay(stream, client, (r) => {
            m.close();
            access(nextHop, hboneAddr, service, w, r.bytesToTunnel, r.bytesFromTunnel, r.error?.message);
          });
          m.follow(bytes.toTunnel, bytes.fromTunnel);
        },
        (err: unknown) => {
          client.resetAndDestroy();
          const denied = err instanceof HboneError && err.code === 'POLICY_DENIED';
          telemetry.health.error(denied ? 'denied_by_destination' : 'hbone_connect');
          telemetry.metrics.refused(labels(w, service, true), denied ? 'DENY' : 'CONNECT');
          access(nextHop, hboneAddr, service, w, 0, 0, errorMessage(err));
        },
      );
    return;
  }
  // Not in the mesh: the pod's own connection, as if there were no ztunnel (after Service load balancing, if any).
  const target =
    dest.kind === 'workload'
      ? { host: dest.workload.addresses[0] ?? orig.address, port: dest.port }
      : { host: orig.address, port: orig.port };
  const workload = dest.kind === 'workload' ? dest.workload : undefined;
  const service = dest.kind === 'workload' ? dest.service : undefined;
  const targetAddr = formatHostPort(target.host, target.port);
  connectFromNetns(src.netnsFd, { host: target.host, port: target.port, mark: INPOD_MARK }).then(
    (upstream) => {
      const m = telemetry.metrics.open(labels(workload, service, false));
      if (client.destroyed) {
        upstream.destroy();
        m.close('CONNECT');
        access(targetAddr, undefined, service, workload, 0, 0, 'client went away');
        return;
      }
      const bytes = pipeSockets(client, upstream, (r) => {
        m.close();
        access(targetAddr, undefined, service, workload, r.bytesAtoB, r.bytesBtoA, r.error?.message);
      });
      m.follow(bytes.aToB, bytes.bToA);
    },
    (err: unknown) => {
      client.resetAndDestroy();
      telemetry.health.error('upstream_connect');
      telemetry.metrics.refused(labels(workload, service, false), 'CONNECT');
      access(targetAddr, undefined, service, workload, 0, 0, errorMessage(err));
    },
  );
}

/** Where one tunnel goes and what the peer must prove; `peer` is the workload that metrics name as the destination. */
interface TunnelPlan {
  readonly peer: Workload;
  readonly service: Service | undefined;
  readonly nextHop: { readonly host: string; readonly port: number };
  readonly authority: string;
  readonly identities: readonly string[];
}

/** The tunnel to an HBONE workload: its first address, port 15008, expecting its identity or the Service's SANs. */
function tunnelToWorkload(w: Workload, port: number, service: Service | undefined, fallbackIp: string): TunnelPlan {
  const ip = w.addresses[0] ?? fallbackIp;
  return {
    peer: w,
    service,
    nextHop: { host: ip, port: HBONE_PORT },
    authority: formatHostPort(ip, port),
    identities: [workloadIdentity(w), ...(service?.subjectAltNames ?? [])],
  };
}
