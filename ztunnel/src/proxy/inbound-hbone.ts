import type { Logger } from '@ambit/core';
import type { HboneAuthorizeRequest, HboneServerOptions } from '@ambit/core/hbone';
import type { CertManager } from '../identity/index.ts';
import { connectFromNetns } from '../native/index.ts';
import type { PodManager } from '../pods/pod-manager.ts';
import type { ConnectionFacts } from '@ambit/core/policy';
import { authorizeInbound } from '../policy/inbound-authz.ts';
import type { LiveConnections } from '../policy/live-connections.ts';
import type { MeshState } from '../state/mesh-state.ts';
import type { TcpMetrics } from '../metrics/tcp-metrics.ts';
import { originalSource } from './original-source.ts';
import { INPOD_MARK } from './ports.ts';

export interface InboundHboneDeps {
  readonly state: MeshState;
  readonly pods: () => PodManager;
  readonly certs: CertManager;
  readonly roots: () => readonly string[];
  readonly trustDomain: string;
  readonly live: LiveConnections;
  readonly metrics: TcpMetrics;
  readonly log: Logger;
}

function factsOf(req: HboneAuthorizeRequest): ConnectionFacts {
  return { sourceIdentity: req.peerIdentity, sourceIp: req.srcAddr.ip, destinationIp: req.dstAddr.host, destinationPort: req.dstAddr.port };
}

/**
 * The destination side of HBONE (DESIGN §3 "Inbound"): the certificate is the pod's whose address the connection
 * arrived on, the client's SPIFFE ID is checked against the pod's authorizations (401 when denied), and the upstream
 * connection to the app is made inside that pod's namespace, marked so the pod's rules do not capture it again.
 */
export function inboundHboneOptions(deps: InboundHboneDeps): HboneServerOptions {
  const log = deps.log;
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
    onTunnelOpen: (meta, abort) => {
      const workload = deps.state.workloadByIp(meta.localAddr);
      if (workload === undefined) return undefined;
      return deps.live.add({ workloadUid: workload.uid, facts: factsOf(meta), close: abort });
    },
    connectUpstream: (target, meta) => {
      const pod = deps.pods().byIp(target.host);
      if (pod === undefined) return Promise.reject(new Error(`no captured pod has address ${target.host}`));
      return connectFromNetns(pod.netnsFd, { host: target.host, port: target.port, mark: INPOD_MARK, ...originalSource(meta.srcAddr.ip, target.host) });
    },
    onTunnelClose: (rec) => {
      if (rec.meta !== undefined && (rec.status === 200 || rec.status === 401)) {
        deps.metrics.inboundClosed({
          source: deps.state.workloadByIp(rec.meta.srcAddr.ip),
          sourceIdentity: rec.meta.peerIdentity,
          destination: deps.state.workloadByIp(rec.meta.localAddr),
          denied: rec.status === 401,
          mtls: true,
        });
      }
      // The access line of the destination side (issue 6 gives it Istio's full field set): who connected, to what.
      log.info(
        {
          direction: 'inbound',
          src: rec.meta === undefined ? undefined : `${rec.meta.srcAddr.ip}:${rec.meta.srcAddr.port}`,
          srcIdentity: rec.meta?.peerIdentity,
          dst: rec.authority,
          status: rec.status,
          reason: rec.reason,
          bytesReceived: rec.bytesFromClient,
          bytesSent: rec.bytesToClient,
          durationMs: Math.round(rec.durationMs),
          error: rec.error?.message,
        },
        'connection closed',
      );
    },
  };
}
