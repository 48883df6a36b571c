import type { HboneAuthorizeRequest, HboneServerOptions } from '@ambit/core/hbone';
import type { ConnectionFacts } from '@ambit/core/policy';
import { connectFromNetns } from '../native/index.ts';
import { authorizeInbound } from '../policy/inbound-authz.ts';
import type { ConnectionLabelsInput } from '@ambit/core/telemetry';
import { logAccess } from '../telemetry/index.ts';
import { originalSource } from './original-source.ts';
import { INPOD_MARK } from './ports.ts';
import type { ProxyInputs } from './proxy-inputs.ts';

function factsOf(req: HboneAuthorizeRequest): ConnectionFacts {
  return { sourceIdentity: req.peerIdentity, sourceIp: req.srcAddr.ip, destinationIp: req.dstAddr.host, destinationPort: req.dstAddr.port };
}

/**
 * The destination side of HBONE (DESIGN §3 "Inbound"): the certificate is the pod's whose address the connection
 * arrived on, the client's SPIFFE ID is checked against the pod's authorizations (401 when denied), and the upstream
 * connection to the app is made inside that pod's namespace, marked so the pod's rules do not capture it again.
 * Reported as `reporter="destination"`, one access line per tunnel. One server serves every pod: the pod is looked up
 * by address in `inputs.pods` when a connection arrives, so the server exists before any pod does.
 */
export function inboundHboneOptions(inputs: ProxyInputs): HboneServerOptions {
  const { log, telemetry, state, pods, certs, live } = inputs;
  const labels = (req: HboneAuthorizeRequest): ConnectionLabelsInput => ({
    reporter: 'destination',
    source: state.workloadByIp(req.srcAddr.ip),
    sourcePrincipal: req.peerIdentity,
    destination: state.workloadByIp(req.localAddr),
    service: undefined,
    mtls: true,
  });
  return {
    log,
    trustDomain: inputs.config.trustDomain,
    roots: inputs.roots,
    certFor: (localIp) => {
      const pod = pods.byIp(localIp);
      return pod === undefined ? undefined : certs.current(pod.identity);
    },
    authorize: (req) => {
      const workload = state.workloadByIp(req.localAddr);
      if (workload === undefined) return { allow: false, status: 503, reason: `destination ${req.localAddr} is not a known workload yet` };
      const decision = authorizeInbound(state, workload, factsOf(req), log);
      return decision.allow ? { allow: true } : { allow: false, status: 401, reason: decision.reason };
    },
    onTunnelOpen: (meta, tunnel) => {
      const m = telemetry.metrics.open(labels(meta));
      m.follow(tunnel.bytes.toTunnel, tunnel.bytes.fromTunnel);
      const workload = state.workloadByIp(meta.localAddr);
      const untrack =
        workload === undefined ? undefined : live.add({ workloadUid: workload.uid, facts: factsOf(meta), close: tunnel.abort });
      return () => {
        untrack?.();
        m.close();
      };
    },
    connectUpstream: (target, meta) => {
      const pod = pods.byIp(target.host);
      if (pod === undefined) return Promise.reject(new Error(`no captured pod has address ${target.host}`));
      return connectFromNetns(pod.netnsFd, {
        host: target.host,
        port: target.port,
        mark: INPOD_MARK,
        ...originalSource(meta.srcAddr.ip, target.host),
      });
    },
    onTunnelClose: (rec) => {
      const meta = rec.meta;
      if (meta !== undefined && rec.status === 401) telemetry.metrics.refused(labels(meta), 'DENY');
      else if (meta !== undefined && rec.status === 503) telemetry.metrics.refused(labels(meta), 'CONNECT');
      if (rec.status !== 200) telemetry.health.error(rec.status === 401 ? 'denied' : `hbone_${rec.status}`);
      logAccess(telemetry.access, {
        direction: 'inbound',
        srcAddr: meta === undefined ? 'unknown' : `${meta.srcAddr.ip}:${meta.srcAddr.port}`,
        srcWorkload: meta === undefined ? undefined : state.workloadByIp(meta.srcAddr.ip),
        srcIdentity: meta?.peerIdentity,
        dstAddr: rec.authority,
        hboneAddr: rec.authority,
        dstService: undefined,
        dstWorkload: meta === undefined ? undefined : state.workloadByIp(meta.localAddr),
        bytesSent: rec.bytesToClient,
        bytesRecv: rec.bytesFromClient,
        durationMs: rec.durationMs,
        error: rec.status === 200 ? (rec.error?.message ?? rec.reason) : (rec.reason ?? `HTTP ${rec.status}`),
      });
    },
  };
}
