import type { Logger } from '@ambit/core';
import type { HboneAuthorizeRequest, HboneServerOptions } from '@ambit/core/hbone';
import type { ConnectionFacts } from '@ambit/core/policy';
import type { CertManager } from '../identity/index.ts';
import { connectFromNetns } from '../native/index.ts';
import type { PodManager } from '../pods/pod-manager.ts';
import { authorizeInbound } from '../policy/inbound-authz.ts';
import type { LiveConnections } from '../policy/live-connections.ts';
import type { MeshState } from '../state/mesh-state.ts';
import { logAccess, type ConnectionLabelsInput, type Telemetry } from '../telemetry/index.ts';
import { originalSource } from './original-source.ts';
import { INPOD_MARK } from './ports.ts';

export interface InboundHboneDeps {
  readonly state: MeshState;
  readonly pods: () => PodManager;
  readonly certs: CertManager;
  readonly roots: () => readonly string[];
  readonly trustDomain: string;
  readonly live: LiveConnections;
  readonly telemetry: Telemetry;
  readonly log: Logger;
}

function factsOf(req: HboneAuthorizeRequest): ConnectionFacts {
  return { sourceIdentity: req.peerIdentity, sourceIp: req.srcAddr.ip, destinationIp: req.dstAddr.host, destinationPort: req.dstAddr.port };
}

/**
 * The destination side of HBONE (DESIGN §3 "Inbound"): the certificate is the pod's whose address the connection
 * arrived on, the client's SPIFFE ID is checked against the pod's authorizations (401 when denied), and the upstream
 * connection to the app is made inside that pod's namespace, marked so the pod's rules do not capture it again.
 * Reported as `reporter="destination"`, one access line per tunnel.
 */
export function inboundHboneOptions(deps: InboundHboneDeps): HboneServerOptions {
  const { log, telemetry } = deps;
  const labels = (req: HboneAuthorizeRequest): ConnectionLabelsInput => ({
    reporter: 'destination',
    source: deps.state.workloadByIp(req.srcAddr.ip),
    sourcePrincipal: req.peerIdentity,
    destination: deps.state.workloadByIp(req.localAddr),
    service: undefined,
    mtls: true,
  });
  return {
    log,
    trustDomain: deps.trustDomain,
    roots: deps.roots,
    certFor: (localIp) => {
      const pod = deps.pods().byIp(localIp);
      return pod === undefined ? undefined : deps.certs.current(pod.identity);
    },
    authorize: (req) => {
      const workload = deps.state.workloadByIp(req.localAddr);
      if (workload === undefined) return { allow: false, status: 503, reason: `destination ${req.localAddr} is not a known workload yet` };
      const decision = authorizeInbound(deps.state, workload, factsOf(req), log);
      return decision.allow ? { allow: true } : { allow: false, status: 401, reason: decision.reason };
    },
    onTunnelOpen: (meta, tunnel) => {
      const m = telemetry.metrics.open(labels(meta));
      m.follow(tunnel.bytes.toTunnel, tunnel.bytes.fromTunnel);
      const workload = deps.state.workloadByIp(meta.localAddr);
      const untrack = workload === undefined ? undefined : deps.live.add({ workloadUid: workload.uid, facts: factsOf(meta), close: tunnel.abort });
      return () => {
        untrack?.();
        m.close();
      };
    },
    connectUpstream: (target, meta) => {
      const pod = deps.pods().byIp(target.host);
      if (pod === undefined) return Promise.reject(new Error(`no captured pod has address ${target.host}`));
      return connectFromNetns(pod.netnsFd, { host: target.host, port: target.port, mark: INPOD_MARK, ...originalSource(meta.srcAddr.ip, target.host) });
    },
    onTunnelClose: (rec) => {
      const meta = rec.meta;
      if (meta !== undefined && rec.status === 401) telemetry.metrics.refused(labels(meta), 'DENY');
      else if (meta !== undefined && rec.status === 503) telemetry.metrics.refused(labels(meta), 'CONNECT');
      if (rec.status !== 200) telemetry.health.error(rec.status === 401 ? 'denied' : `hbone_${rec.status}`);
      logAccess(telemetry.access, {
        direction: 'inbound',
        srcAddr: meta === undefined ? 'unknown' : `${meta.srcAddr.ip}:${meta.srcAddr.port}`,
        srcWorkload: meta === undefined ? undefined : deps.state.workloadByIp(meta.srcAddr.ip),
        srcIdentity: meta?.peerIdentity,
        dstAddr: rec.authority,
        hboneAddr: rec.authority,
        dstService: undefined,
        dstWorkload: meta === undefined ? undefined : deps.state.workloadByIp(meta.localAddr),
        bytesSent: rec.bytesToClient,
        bytesRecv: rec.bytesFromClient,
        durationMs: rec.durationMs,
        error: rec.status === 200 ? rec.error?.message ?? rec.reason : (rec.reason ?? `HTTP ${rec.status}`),
      });
    },
  };
}
