import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL, errorMessage, ROOT_NAMESPACE, type Authorization, type Logger } from '@ambit/core';
import { decodeCheckedAddress, decodeCheckedAuthorization, type AddressResource } from '@ambit/core/codec';
import { createHboneServer } from '@ambit/core/hbone';
import { createCaClient, createCertManager, type CertManager } from '@ambit/core/identity';
import { closeServer, createTcpMetrics, type TcpMetrics } from '@ambit/core/telemetry';
import { createXdsClient, xdsType, type XdsClient } from '@ambit/core/xds';
import { Registry } from 'prom-client';
import { configDump } from './admin/config-dump.ts';
import { startOwnServers } from './admin/own-servers.ts';
import { startZdsClient, type ZdsClient } from './agent/zds-client.ts';
import type { InpodPod } from './pods/inpod-pod.ts';
import { createPodRegistry } from './pods/pod-directory.ts';
import { createPodManager, type PodManager } from './pods/pod-manager.ts';
import { createLiveConnections, type LiveConnections } from './policy/live-connections.ts';
import { startMemoryTrim } from './process/memory-trim.ts';
import { inboundHboneOptions } from './proxy/inbound-hbone.ts';
import { meshRoots, type ProxyInputs } from './proxy/proxy-inputs.ts';
import { createMeshState, type MeshState } from './state/mesh-state.ts';
import { createHealthMetrics, registerHealthGauges } from './telemetry/index.ts';

export interface ZtunnelOptions {
  /** This node's name: the xDS node id and the node the CA checks impersonation against. */
  readonly node: string;
  readonly trustDomain: string;
  /** xDS and CA gRPC target (`unix:/path` in local mode). */
  readonly controllerTarget: string;
  /** CA gRPC target when it is not the controller's (default controllerTarget). */
  readonly caTarget?: string;
  /**
   * PEM of the mesh root(s) the controller's serving certificate chains to (the `ambit-ca-root-cert` ConfigMap): xDS
   * and the CA are then spoken over TLS, verified against it and the target's host name. Absent: plaintext, for
   * `unix:` targets (the socket's file permissions protect it).
   */
  readonly controllerRootPem?: string;
  /** File holding the bearer credential for the CA (per-node token in local mode); re-read per request. */
  readonly tokenFile: string;
  /** The node agent's ZDS socket. */
  readonly agentSocket: string;
  /** Workload certificate lifetime asked of the CA; default 86400 s. */
  readonly certTtlSeconds?: number;
  /**
   * How long a pod the node agent hands over waits for the controller's first config before it is served anyway, ms;
   * default 5 000. The agent's CNI ADD waits on that ack, so the pod's app does not start before its ztunnel knows the
   * mesh (otherwise its first connections fail, or go out in plaintext); after the bound it starts, so a controller
   * that is away does not stop pods from starting.
   */
  readonly firstConfigWaitMs?: number;
  /** Prometheus metrics (15020), readiness (15021), admin (15000, localhost); each absent: not served. */
  readonly metricsListen?: ListenAddress;
  readonly readinessListen?: ListenAddress;
  readonly adminListen?: ListenAddress;
  /** `POST /quitquitquit` on the admin port: the process's graceful shutdown. */
  readonly onQuit?: () => void;
  /**
   * A file written when this process is first ready and removed when it starts to drain: the DaemonSet's readiness
   * probe. On a hostNetwork node two ztunnels share 15021 during a surge roll-out (SO_REUSEPORT), so an HTTP probe
   * may be answered by the old, ready one; a file in the pod's own emptyDir speaks for this process alone.
   */
  readonly readyFile?: string;
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
  /**
   * SIGTERM: stop accepting (in-pod listeners closed, their queues handed to another ztunnel's), drain open
   * connections for up to `graceMs`, then close everything.
   */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * The per-node L4 proxy (DESIGN §3–5): mesh state from the controller over delta xDS, certificates for the node's
 * identities from the controller's CA, pods from the node agent over ZDS, and for each pod the in-namespace listeners
 * that carry its traffic over HBONE.
 *
 * Start-up reads top to bottom, each step using only what the steps above built (Istio's ztunnel `app.rs`):
 * inputs → proxy → links → own servers. Nothing is bound later: the parts that change (mesh state, pods,
 * certificates) exist empty from step 1 and are filled once the links of step 3 deliver.
 */
export function startZtunnel(options: ZtunnelOptions): Ztunnel {
  const log = options.log;
  const token = async (): Promise<string> => (await readFile(options.tokenFile, 'utf8')).trim();

  // 1. The inputs every listener shares, built once. `podRegistry` is the pod directory as plain data: the listeners
  //    read it (`inputs.pods`), the pod manager of step 2 fills it.
  const registry = new Registry();
  const state = createMeshState(ROOT_NAMESPACE);
  const podRegistry = createPodRegistry<InpodPod>();
  const tls = options.controllerRootPem === undefined ? undefined : { ca: options.controllerRootPem };
  const ca = createCaClient({ target: options.caTarget ?? options.controllerTarget, token, ...(tls === undefined ? {} : { tls }) });
  const certs = createCertManager({
    fetch: (identity, ttl) => ca.fetchCertificate(identity, ttl),
    ...(options.certTtlSeconds !== undefined && { ttlSeconds: options.certTtlSeconds }),
    log,
  });
  const inputs: ProxyInputs = {
    config: { node: options.node, trustDomain: options.trustDomain },
    state,
    live: createLiveConnections(state, log),
    certs,
    roots: meshRoots(certs, podRegistry),
    pods: podRegistry,
    telemetry: { metrics: createTcpMetrics(registry), health: createHealthMetrics(registry), access: log.child({ component: 'access' }) },
    log,
  };

  // 2. The proxy: one inbound HBONE server for every pod, and the pod manager, which binds each pod's listeners in its
  //    namespace and hands their 15008 connections to that server.
  const hbone = createHboneServer(inboundHboneOptions(inputs));
  //    A pod is taken on (acked, which lets its app start) once the controller's first config is in, or after
  //    firstConfigWaitMs without it (step 3 fills it).
  let configArrived: () => void = () => undefined;
  const firstConfig = new Promise<void>((resolve) => (configArrived = resolve));
  const pods = createPodManager(inputs, {
    registry: podRegistry,
    hbone,
    firstConfig,
    ...(options.firstConfigWaitMs !== undefined && { configWaitMs: options.firstConfigWaitMs }),
  });

  // 3. The links that fill the inputs: mesh config from the controller, pods from the node agent.
  const xds = subscribeMeshConfig(options.controllerTarget, tls, inputs, token, configArrived);
  const zds = startZdsClient({
    socketPath: options.agentSocket,
    node: options.node,
    log,
    handlers: { add: (p) => pods.add(p), del: (uid) => pods.del(uid), snapshot: (uids) => pods.retainOnly(uids) },
  });

  // 4. What reports on all of the above: health gauges read at scrape time, the own servers, memory trim.
  registerHealthGauges(
    registry,
    {
      xdsConnected: () => xds.connected(),
      agentConnected: () => zds.synced(),
      enrolledPods: () => podRegistry.pods().length,
      certificates: () => certs.state(),
    },
    ZTUNNEL_VERSION,
  );
  const pending = (): string[] => [...(zds.synced() ? [] : ['node agent']), ...(xds.connected() ? [] : ['config sync'])];
  const dump = (): Record<string, unknown> =>
    configDump({
      state,
      pods: podRegistry,
      certs,
      node: options.node,
      version: ZTUNNEL_VERSION,
      xdsConnected: () => xds.connected(),
      agentSynced: () => zds.synced(),
    });
  const servers = startOwnServers(options, { registry, pending, dump, log });
  const stopTrim = startMemoryTrim(log);
  // Said once, when /healthz/ready first answers 200: what a rolling update waits for before it stops the old
  // ztunnel, readable in the log of either (the line carries this process's pid).
  const readyWatch = setInterval(() => {
    if (pending().length > 0) return;
    clearInterval(readyWatch);
    if (options.readyFile !== undefined) writeReadyFile(options.readyFile, log);
    log.info({ pods: podRegistry.pods().length }, 'ztunnel ready');
  }, 50).unref();
  return {
    state,
    live: inputs.live,
    metrics: inputs.telemetry.metrics,
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
      clearInterval(readyWatch);
      if (options.readyFile !== undefined) rmSync(options.readyFile, { force: true });
      // The hand-over (contract 7, Istio's ztunnel drain): leave the agent, which goes on with the new ztunnel; close
      // the in-pod listeners, so the kernel moves their queued connections to the new ztunnel's (same SO_REUSEPORT
      // group) and every new connection goes there; only then GOAWAY the inbound HBONE sessions, so the peers' new
      // tunnels cannot land on a listener of ours that is still open. Established connections, inbound and
      // outbound (a pod's connection captured here keeps its tunnel from this ztunnel's pool), carry on until they
      // end or `graceMs` passes. Readiness stops answering at once, so the node's 15021 speaks for the new ztunnel.
      zds.close();
      await pods.stopAccepting();
      const own = await servers;
      await Promise.all(own.filter((s) => s.name === 'readiness').map((s) => closeServer(s.server)));
      await Promise.all([pods.drain(graceMs), hbone.close(graceMs)]).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'drain'));
      xds.close();
      certs.close();
      ca.close();
      await Promise.all(own.filter((s) => s.name !== 'readiness').map((s) => closeServer(s.server)));
    },
  };
}

/** Written whole or not at all (rename), so a probe never reads a half-written file. */
function writeReadyFile(path: string, log: Logger): void {
  try {
    writeFileSync(`${path}.tmp`, `${process.pid}\n`);
    renameSync(`${path}.tmp`, path);
  } catch (err) {
    // Not fatal: the probe keeps failing and the roll-out waits, which the log line explains.
    log.error({ err: errorMessage(err), path }, 'cannot write the ready file');
  }
}

/** The controller's delta-xDS subscription: it fills the mesh state, and every change re-checks live connections. */
function subscribeMeshConfig(
  target: string,
  tls: { readonly ca: string } | undefined,
  inputs: ProxyInputs,
  token: () => Promise<string>,
  onAddresses: () => void,
): XdsClient {
  const { state, live, config } = inputs;
  return createXdsClient({
    target,
    ...(tls === undefined ? {} : { tls }),
    node: { id: config.node, metadata: { NODE_NAME: config.node } },
    log: inputs.log,
    callMetadata: async () => ({ authorization: `Bearer ${await token()}` }),
    types: [
      xdsType<AddressResource>({
        typeUrl: ADDRESS_TYPE_URL,
        decode: (_name, bytes) => decodeCheckedAddress(bytes),
        onChange: (c) => {
          state.applyAddresses(c.upserted, c.removed);
          live.recheck();
          onAddresses();
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
}
