import { readFile } from 'node:fs/promises';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  errorMessage,
  ROOT_NAMESPACE,
  validateAuthorization,
  validateService,
  validateWorkload,
  type Authorization,
  type Logger,
} from '@ambit/core';
import { decodeAddress, decodeAuthorization, type AddressResource } from '@ambit/core/codec';
import { createHboneServer, type HboneServer } from '@ambit/core/hbone';
import { createCaClient, type CaClient } from '@ambit/core/identity';
import { createXdsClient, xdsType, type XdsClient } from '@ambit/core/xds';
import { startZdsClient, type ZdsClient } from './agent/zds-client.ts';
import { createCertManager, type CertManager } from './identity/index.ts';
import { createPodManager, type PodManager } from './pods/pod-manager.ts';
import { inboundHboneOptions } from './proxy/inbound-hbone.ts';
import { startMetricsServer } from './metrics/metrics-server.ts';
import { createTcpMetrics, type TcpMetrics } from './metrics/tcp-metrics.ts';
import { createLiveConnections, type LiveConnections } from './policy/live-connections.ts';
import { createMeshState, type MeshState } from './state/mesh-state.ts';

export interface ZtunnelOptions {
  /** This node's name: the xDS node id and the node the CA checks impersonation against. */
  readonly node: string;
  readonly trustDomain: string;
  /** xDS and CA gRPC target (`unix:/path` in local mode). */
  readonly controllerTarget: string;
  /** CA gRPC target when it is not the controller's (default controllerTarget). */
  readonly caTarget?: string;
  /** File holding the bearer credential for the CA (per-node token in local mode); re-read per request. */
  readonly tokenFile: string;
  /** The node agent's ZDS socket. */
  readonly agentSocket: string;
  /** Workload certificate lifetime asked of the CA; default 86400 s. */
  readonly certTtlSeconds?: number;
  /** Where to serve Prometheus metrics (15020); absent: not served (in-process tests). */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  readonly log: Logger;
}

export interface Ztunnel {
  readonly state: MeshState;
  /** Inbound connections that policy changes re-check. */
  readonly live: LiveConnections;
  readonly metrics: TcpMetrics;
  readonly pods: PodManager;
  readonly certs: CertManager;
  readonly xds: XdsClient;
  readonly zds: ZdsClient;
  /** Config synced from the controller and the agent's snapshot applied. */
  ready(): boolean;
  /** SIGTERM: stop accepting, drain open connections for up to `graceMs`, then close everything. */
  shutdown(graceMs: number): Promise<void>;
}

/** Keeps one array per distinct root set, so TLS contexts keyed on it are rebuilt only when the roots change. */
function rootsTracker(certs: () => CertManager, identities: () => string[]): () => readonly string[] {
  let roots: readonly string[] = [];
  let joined = '';
  return () => {
    for (const id of identities()) {
      const cert = certs().current(id);
      if (cert === undefined) continue;
      const j = cert.roots.join('\n');
      if (j !== joined) {
        joined = j;
        roots = cert.roots;
      }
      break;
    }
    return roots;
  };
}

/**
 * The per-node L4 proxy (DESIGN §3–5): mesh state from the controller over delta xDS, certificates for the node's
 * identities from the controller's CA, pods from the node agent over ZDS, and for each pod the in-namespace listeners
 * that carry its traffic over HBONE.
 */
export function startZtunnel(options: ZtunnelOptions): Ztunnel {
  const log = options.log;
  const state = createMeshState(ROOT_NAMESPACE);
  const live = createLiveConnections(state, log);
  const metrics = createTcpMetrics();
  const token = async (): Promise<string> => (await readFile(options.tokenFile, 'utf8')).trim();
  const xds = createXdsClient({
    target: options.controllerTarget,
    node: { id: options.node, metadata: { NODE_NAME: options.node } },
    log,
    callMetadata: async () => ({ authorization: `Bearer ${await token()}` }),
    types: [
      xdsType<AddressResource>({
        typeUrl: ADDRESS_TYPE_URL,
        decode: (_name, bytes) => {
          const a = decodeAddress(bytes);
          return 'workload' in a ? { workload: validateWorkload(a.workload) } : { service: validateService(a.service) };
        },
        onChange: (c) => {
          state.applyAddresses(c.upserted, c.removed);
          live.recheck();
        },
      }),
      xdsType<Authorization>({
        typeUrl: AUTHORIZATION_TYPE_URL,
        decode: (_name, bytes) => validateAuthorization(decodeAuthorization(bytes)),
        onChange: (c) => {
          state.applyAuthorizations(c.upserted, c.removed);
          live.recheck();
        },
      }),
    ],
  });
  const ca: CaClient = createCaClient({ target: options.caTarget ?? options.controllerTarget, token });
  const certs = createCertManager({
    fetch: (identity, ttl) => ca.fetchCertificate(identity, ttl),
    ...(options.certTtlSeconds !== undefined && { ttlSeconds: options.certTtlSeconds }),
    log,
  });
  const bound: { pods?: PodManager } = {};
  const podList = (): PodManager => {
    if (bound.pods === undefined) throw new Error('BUG: pod manager used before it exists');
    return bound.pods;
  };
  const roots = rootsTracker(() => certs, () => podList().pods().map((p) => p.identity));
  const hbone: HboneServer = createHboneServer(inboundHboneOptions({ state, live, metrics, pods: podList, certs, roots, trustDomain: options.trustDomain, log }));
  const pods = createPodManager({
    state,
    live,
    hbone,
    certs,
    roots,
    trustDomain: options.trustDomain,
    log,
    onInboundPlaintextClose: (_pod, rec) => {
      if (rec.error === 'loop to a ztunnel port' || rec.error === 'unknown destination workload') return;
      const [srcIp = ''] = splitHostPort(rec.src);
      const [dstIp = ''] = splitHostPort(rec.dst);
      metrics.inboundClosed({
        source: state.workloadByIp(srcIp),
        sourceIdentity: undefined,
        destination: state.workloadByIp(dstIp),
        denied: !rec.allowed,
        mtls: false,
      });
    },
  });
  const metricsServer = options.metricsListen === undefined ? undefined : startMetricsServer(metrics.registry, options.metricsListen, log);
  metricsServer?.catch((err: unknown) => log.error({ err: errorMessage(err) }, 'metrics server failed to start'));
  bound.pods = pods;
  const zds = startZdsClient({
    socketPath: options.agentSocket,
    node: options.node,
    log,
    handlers: { add: (p) => pods.add(p), del: (uid) => pods.del(uid), snapshot: (uids) => pods.retainOnly(uids) },
  });
  return {
    state,
    live,
    metrics,
    pods,
    certs,
    xds,
    zds,
    ready: () => xds.connected() && zds.synced(),
    async shutdown(graceMs) {
      zds.close();
      await Promise.all([pods.drain(graceMs), hbone.close(graceMs)]).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'drain'));
      xds.close();
      certs.close();
      ca.close();
      const server = await metricsServer?.catch(() => undefined);
      await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    },
  };
}

/** `10.0.0.1:80` → ['10.0.0.1', '80']; `[fd00::1]:80` → ['fd00::1', '80']. */
function splitHostPort(text: string): [string, string] {
  const i = text.lastIndexOf(':');
  return [text.slice(0, i).replace(/^\[|\]$/g, ''), text.slice(i + 1)];
}
