import assert from 'node:assert';
import { readFile } from 'node:fs/promises';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  errorMessage,
  ROOT_NAMESPACE,
  type Authorization,
  type Logger,
} from '@ambit/core';
import { decodeCheckedAddress, decodeCheckedAuthorization, type AddressResource } from '@ambit/core/codec';
import { createHboneServer, type HboneServer } from '@ambit/core/hbone';
import { createCaClient, type CaClient } from '@ambit/core/identity';
import { createXdsClient, xdsType, type XdsClient } from '@ambit/core/xds';
import { startZdsClient, type ZdsClient } from './agent/zds-client.ts';
import { createCertManager, type CertManager } from './identity/index.ts';
import { createPodManager, type PodManager } from './pods/pod-manager.ts';
import { inboundHboneOptions } from './proxy/inbound-hbone.ts';
import { Registry } from 'prom-client';
import { configDump } from './admin/config-dump.ts';
import { closeServer } from './admin/http-servers.ts';
import { startMemoryTrim } from './process/memory-trim.ts';
import { startOwnServers } from './admin/own-servers.ts';
import { createTcpMetrics, registerHealthMetrics, type TcpMetrics, type Telemetry } from './telemetry/index.ts';
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
  /** Prometheus metrics (15020), readiness (15021), admin (15000, localhost); each absent: not served. */
  readonly metricsListen?: ListenAddress;
  readonly readinessListen?: ListenAddress;
  readonly adminListen?: ListenAddress;
  /** `POST /quitquitquit` on the admin port: the process's graceful shutdown. */
  readonly onQuit?: () => void;
  readonly log: Logger;
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Reported as `istio_build{tag}` and in the config dump. */
export const ZTUNNEL_VERSION = '0.1.0';

export interface Ztunnel {
  readonly state: MeshState;
  /** Inbound connections that policy changes re-check. */
  readonly live: LiveConnections;
  readonly metrics: TcpMetrics;
  readonly registry: Registry;
  readonly pods: PodManager;
  readonly certs: CertManager;
  readonly xds: XdsClient;
  readonly zds: ZdsClient;
  /** Config synced from the controller and the agent's snapshot applied. */
  ready(): boolean;
  /** What `/config_dump` serves. */
  configDump(): Record<string, unknown>;
  /** Addresses the own servers listen on, once started (tests use port 0). */
  listening(): Promise<Readonly<Record<string, string>>>;
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
  const registry = new Registry();
  const metrics = createTcpMetrics(registry);
  const access = log.child({ component: 'access' });
  const token = async (): Promise<string> => (await readFile(options.tokenFile, 'utf8')).trim();
  const xds = createXdsClient({
    target: options.controllerTarget,
    node: { id: options.node, metadata: { NODE_NAME: options.node } },
    log,
    callMetadata: async () => ({ authorization: `Bearer ${await token()}` }),
    types: [
      xdsType<AddressResource>({
        typeUrl: ADDRESS_TYPE_URL,
        decode: (_name, bytes) => decodeCheckedAddress(bytes),
        onChange: (c) => {
          state.applyAddresses(c.upserted, c.removed);
          live.recheck();
        },
      }),
      xdsType<Authorization>({
        typeUrl: AUTHORIZATION_TYPE_URL,
        decode: (_name, bytes) => decodeCheckedAuthorization(bytes),
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
    assert(bound.pods !== undefined, 'BUG: pod manager used before it exists');
    return bound.pods;
  };
  const roots = rootsTracker(() => certs, () => podList().pods().map((p) => p.identity));
  // The health metrics read ztunnel's parts at scrape time; they are bound right below.
  const parts: { zds?: ZdsClient } = {};
  const health = registerHealthMetrics(
    registry,
    {
      xdsConnected: () => xds.connected(),
      agentConnected: () => parts.zds?.synced() ?? false,
      enrolledPods: () => podList().pods().length,
      certificates: () => certs.state(),
    },
    ZTUNNEL_VERSION,
  );
  const telemetry: Telemetry = { metrics, health, access };
  const hbone: HboneServer = createHboneServer(inboundHboneOptions({ state, live, telemetry, pods: podList, certs, roots, trustDomain: options.trustDomain, log }));
  const pods = createPodManager({ state, live, hbone, certs, roots, telemetry, trustDomain: options.trustDomain, log });
  bound.pods = pods;
  const zds = startZdsClient({
    socketPath: options.agentSocket,
    node: options.node,
    log,
    handlers: { add: (p) => pods.add(p), del: (uid) => pods.del(uid), snapshot: (uids) => pods.retainOnly(uids) },
  });
  parts.zds = zds;
  const pending = (): string[] => [...(zds.synced() ? [] : ['node agent']), ...(xds.connected() ? [] : ['config sync'])];
  const dump = (): Record<string, unknown> =>
    configDump({ state, pods, certs, node: options.node, version: ZTUNNEL_VERSION, xdsConnected: () => xds.connected(), agentSynced: () => zds.synced() });
  const servers = startOwnServers(options, { registry, pending, dump, log });
  const stopTrim = startMemoryTrim(log);
  return {
    state,
    live,
    metrics,
    registry,
    pods,
    certs,
    xds,
    zds,
    ready: () => pending().length === 0,
    configDump: dump,
    listening: async () => {
      const out: Record<string, string> = {};
      for (const { name, server } of await servers) {
        const a = server.address();
        if (a !== null && typeof a !== 'string') out[name] = `${a.address}:${a.port}`;
      }
      return out;
    },
    async shutdown(graceMs) {
      stopTrim();
      zds.close();
      await Promise.all([pods.drain(graceMs), hbone.close(graceMs)]).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'drain'));
      xds.close();
      certs.close();
      ca.close();
      await Promise.all((await servers).map((s) => closeServer(s.server)));
    },
  };
}
