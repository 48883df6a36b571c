import type { Socket } from 'node:net';
import type { Logger } from '@ambit/core';
import { errorMessage, HBONE_PORT } from '@ambit/core';
import { formatHostPort, relay, unmapIp, type HbonePool } from '@ambit/core/hbone';
import { connectFromNetns, getOriginalDst, socketFdOf } from '../native/index.ts';
import { workloadIdentity, type MeshState } from '../state/mesh-state.ts';
import { pipeSockets } from './pipe-sockets.ts';
import { INPOD_MARK, ZTUNNEL_PORTS } from './ports.ts';

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

export interface OutboundDeps {
  readonly state: MeshState;
  readonly log: Logger;
  /** One record per connection, at close (the access log). */
  readonly onClose?: (record: OutboundRecord) => void;
}

export interface OutboundRecord {
  readonly src: string;
  readonly dst: string;
  readonly dstWorkload: string | undefined;
  readonly dstIdentity: string | undefined;
  readonly service: string | undefined;
  readonly mode: 'hbone' | 'passthrough' | 'refused';
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly durationMs: number;
  readonly error: string | undefined;
}

/**
 * One connection the pod's capture rules redirected to 15001 (DESIGN §3 "Outbound"): read its original destination,
 * resolve it against the mesh state, then tunnel it over HBONE to the destination pod's 15008 (mesh destination),
 * pass it through as plain TCP (not in the mesh), or refuse it at once (a Service with no healthy endpoint). Every
 * upstream socket is created inside the source pod's namespace with the ztunnel mark, so the pod's own rules let it
 * out and the peer sees the pod's IP.
 */
export function handleOutbound(client: Socket, src: OutboundSource, deps: OutboundDeps): void {
  const started = performance.now();
  const srcAddr = formatHostPort(unmapIp(client.remoteAddress ?? ''), client.remotePort ?? 0);
  const log = deps.log;
  client.on('error', () => {});
  const finish = (partial: Omit<OutboundRecord, 'src' | 'durationMs'>): void => {
    const rec: OutboundRecord = { src: srcAddr, durationMs: performance.now() - started, ...partial };
    deps.onClose?.(rec);
  };
  let orig: { address: string; port: number };
  try {
    const o = getOriginalDst(socketFdOf(client));
    orig = { address: unmapIp(o.address), port: o.port };
  } catch (err) {
    log.warn({ pod: `${src.namespace}/${src.name}`, err: errorMessage(err) }, 'outbound connection without an original destination');
    client.resetAndDestroy();
    return;
  }
  const dst = formatHostPort(orig.address, orig.port);
  // A connection made straight to a ztunnel port would come back to us forever.
  if (src.ips.includes(orig.address) && ZTUNNEL_PORTS.includes(orig.port)) {
    client.resetAndDestroy();
    finish({ dst, dstWorkload: undefined, dstIdentity: undefined, service: undefined, mode: 'refused', bytesSent: 0, bytesReceived: 0, error: 'loop to a ztunnel port' });
    return;
  }
  const dest = deps.state.resolve(orig.address, orig.port);
  if (dest.kind === 'no-healthy-upstream') {
    client.resetAndDestroy();
    log.info({ pod: `${src.namespace}/${src.name}`, dst, service: dest.service.hostname }, 'no healthy upstream');
    finish({ dst, dstWorkload: undefined, dstIdentity: undefined, service: dest.service.hostname, mode: 'refused', bytesSent: 0, bytesReceived: 0, error: 'no healthy upstream' });
    return;
  }
  if (dest.kind === 'workload' && dest.workload.tunnelProtocol === 'HBONE') {
    const w = dest.workload;
    const ip = w.addresses[0] ?? orig.address;
    const dstIdentity = workloadIdentity(w);
    const service = dest.service?.hostname;
    const base = { dst, dstWorkload: `${w.namespace}/${w.name}`, dstIdentity, service, mode: 'hbone' as const };
    src.pool
      .open({
        srcIdentity: src.identity,
        dstIdentities: [dstIdentity, ...(dest.service?.subjectAltNames ?? [])],
        nextHop: { host: ip, port: HBONE_PORT },
        authority: formatHostPort(ip, dest.port),
        forwardedFor: srcAddr,
      })
      .then(
        (stream) => {
          if (client.destroyed) {
            stream.close();
            finish({ ...base, bytesSent: 0, bytesReceived: 0, error: 'client went away' });
            return;
          }
          relay(stream, client, (r) => finish({ ...base, bytesSent: r.bytesToTunnel, bytesReceived: r.bytesFromTunnel, error: r.error?.message }));
        },
        (err: unknown) => {
          client.resetAndDestroy();
          log.info({ pod: `${src.namespace}/${src.name}`, dst, err: errorMessage(err) }, 'HBONE tunnel failed');
          finish({ ...base, bytesSent: 0, bytesReceived: 0, error: errorMessage(err) });
        },
      );
    return;
  }
  // Not in the mesh: the pod's own connection, as if there were no ztunnel (after Service load balancing, if any).
  const target = dest.kind === 'workload' ? { host: dest.workload.addresses[0] ?? orig.address, port: dest.port } : { host: orig.address, port: orig.port };
  const base = {
    dst,
    dstWorkload: dest.kind === 'workload' ? `${dest.workload.namespace}/${dest.workload.name}` : undefined,
    dstIdentity: undefined,
    service: dest.kind === 'workload' ? dest.service?.hostname : undefined,
    mode: 'passthrough' as const,
  };
  connectFromNetns(src.netnsFd, { host: target.host, port: target.port, mark: INPOD_MARK }).then(
    (upstream) => {
      if (client.destroyed) {
        upstream.destroy();
        finish({ ...base, bytesSent: 0, bytesReceived: 0, error: 'client went away' });
        return;
      }
      pipeAndFinish(client, upstream, (r) => finish({ ...base, ...r }));
    },
    (err: unknown) => {
      client.resetAndDestroy();
      finish({ ...base, bytesSent: 0, bytesReceived: 0, error: errorMessage(err) });
    },
  );
}


function pipeAndFinish(client: Socket, upstream: Socket, done: (r: { bytesSent: number; bytesReceived: number; error: string | undefined }) => void): void {
  pipeSockets(client, upstream, (r) => done({ bytesSent: r.bytesAtoB, bytesReceived: r.bytesBtoA, error: r.error?.message }));
}
