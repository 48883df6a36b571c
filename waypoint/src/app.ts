import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect as netConnect } from 'node:net';
import { errorMessage, spiffeId, type Logger } from '@ambit/core';
import { createHbonePool } from '@ambit/core/hbone';
import { closeServer, startHttpServer, type Handler } from '@ambit/core/telemetry';
import { Registry } from 'prom-client';
import { configDump } from './admin/config-dump.ts';
import { createWaypointIdentity, type CaCredential } from './identity/waypoint-identity.ts';
import { startBufferCollector } from './process/buffer-collector.ts';
import { startWaypointListener, type WaypointListener } from './proxy/listener.ts';
import type { WaypointInputs } from './proxy/proxy-inputs.ts';
import { startConfigLink, waypointNode } from './state/config-link.ts';
import { createWaypointStore } from './state/waypoint-state.ts';
import { createWaypointTelemetry } from './telemetry/index.ts';

/** Reported as `istio_build{tag}` and in the config dump. */
export const WAYPOINT_VERSION = '0.1.0';

export type ListenAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** Everything the waypoint process needs, typed (main.ts builds it from flags and environment; nothing else reads env). */
export interface WaypointAppConfig {
  /** The controller's xDS target: `unix:/path` or `host:port`. */
  readonly controllerTarget: string;
  /** CA target when it is not the controller's (tests); default controllerTarget. */
  readonly caTarget?: string;
  /** The Gateway served; its namespace is the pod's. */
  readonly gateway: { readonly namespace: string; readonly name: string };
  readonly trustDomain: string;
  readonly podName: string;
  readonly podIp: string;
  readonly serviceAccount: string;
  readonly caCredential: CaCredential;
  readonly rootCertFile?: string;
  /** PEM roots that verify the controller's TLS (xDS and CA over TCP); absent: plaintext (`unix:` targets). */
  readonly controllerRootPem?: string;
  /** Certificate lifetime asked of the CA; default 86400 s. */
  readonly certTtlSeconds?: number;
  /** HBONE (15008 on every address of the pod). */
  readonly hboneListen: { readonly host: string; readonly port: number };
  /** 15020 metrics, 15021 readiness, 127.0.0.1:15000 admin; each absent: not served. */
  readonly metricsListen?: ListenAddress;
  readonly readinessListen?: ListenAddress;
  readonly adminListen?: ListenAddress;
  /** `POST /quitquitquit` on the admin port: the process's graceful shutdown. */
  readonly onQuit?: () => void;
  readonly log: Logger;
  /** The access log; default a child of `log` (main.ts passes an asynchronous one). */
  readonly accessLog?: Logger;
}

export interface WaypointApp {
  readonly inputs: WaypointInputs;
  readonly registry: Registry;
  /** Certificate held and the controller's first config applied (what 15021 reports). */
  ready(): boolean;
  /** What keeps the waypoint from being ready (empty when ready). */
  pending(): string[];
  configDump(): Record<string, unknown>;
  /** name → `ip:port` (or socket path) of each port the waypoint listens on. */
  listening(): Readonly<Record<string, string>>;
  /** SIGTERM: readiness fails, GOAWAY to every tunnel, in-flight requests get up to `graceMs`, then everything closes. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * The waypoint (DESIGN §3, Istio's waypoint as reference §7 describes it), wired top to bottom as ztunnel's app:
 * inputs → proxy → links → own servers. Nothing is bound later: the parts that change (mesh state and routes, the
 * certificate) exist empty from step 1 and are filled once the links of step 3 deliver. Binding the HBONE port fails
 * the start (a waypoint that cannot take traffic must not look alive); an own port that cannot be bound is logged.
 */
export async function startWaypoint(c: WaypointAppConfig): Promise<WaypointApp> {
  const log = c.log;
  const identity = spiffeId(c.trustDomain, c.gateway.namespace, c.serviceAccount);

  // 1. The inputs the data path shares, built once.
  const registry = new Registry();
  const store = createWaypointStore(c.gateway);
  const certs = createWaypointIdentity({
    caTarget: c.caTarget ?? c.controllerTarget,
    identity,
    credential: c.caCredential,
    ...(c.rootCertFile === undefined ? {} : { rootCertFile: c.rootCertFile }),
    ...(c.controllerRootPem === undefined ? {} : { caTls: { ca: c.controllerRootPem } }),
    ...(c.certTtlSeconds === undefined ? {} : { ttlSeconds: c.certTtlSeconds }),
    log,
  });
  const telemetry = createWaypointTelemetry({
    registry,
    access: c.accessLog ?? log.child({ component: 'access' }),
    version: WAYPOINT_VERSION,
  });
  const pool = createHbonePool({
    // The waypoint runs in its own pod's network namespace and is not captured (istio.io/dataplane-mode: none), so an
    // ordinary socket goes straight to the destination pod's 15008 and never loops back through a ztunnel.
    connect: (hop) => netConnect({ host: hop.host, port: hop.port, allowHalfOpen: true }),
    certFor: () => certs.certFor(),
    roots: () => certs.roots(),
    log,
  });
  const inputs: WaypointInputs = {
    config: { gateway: c.gateway, identity, trustDomain: c.trustDomain, podName: c.podName, podIp: c.podIp },
    state: store,
    cert: () => certs.current(),
    roots: () => certs.roots(),
    pool,
    telemetry,
    log,
  };

  // 2. The proxy: the HBONE listener and the data path behind it.
  let listener: WaypointListener;
  try {
    listener = await startWaypointListener(inputs, c.hboneListen);
  } catch (err) {
    certs.close();
    await pool.close();
    throw err;
  }

  // Bulk bodies leave their Buffers to the young generation's collector, which large frames hardly wake.
  const stopCollector = startBufferCollector(log);

  // 3. The link that fills the state: config from the controller (the certificate manager fetches on its own).
  const link = startConfigLink({
    target: c.controllerTarget,
    ...(c.controllerRootPem === undefined ? {} : { tls: { ca: c.controllerRootPem } }),
    node: waypointNode({
      podIp: c.podIp,
      podName: c.podName,
      podNamespace: c.gateway.namespace,
      gatewayName: c.gateway.name,
      serviceAccount: c.serviceAccount,
    }),
    token: async () => ('file' in c.caCredential ? await readToken(c.caCredential.file, log) : c.caCredential.value),
    store,
    log,
  });

  // 4. What reports on all of the above.
  let draining = false;
  const pending = (): string[] => [
    ...(draining ? ['draining'] : []),
    ...(certs.current() === undefined ? ['certificate'] : []),
    ...(link.synced() ? [] : ['config sync']),
  ];
  const servers: Array<{ name: string; server: Server }> = [];
  const listeners = (): Record<string, string> => {
    const a = listener.address();
    const out: Record<string, string> = { hbone: `${a.address}:${a.port}` };
    for (const { name, server } of servers) {
      const addr = server.address();
      if (typeof addr === 'string') out[name] = addr;
      else if (addr !== null) out[name] = `${addr.address}:${addr.port}`;
    }
    return out;
  };
  const dump = (): Record<string, unknown> =>
    configDump({
      config: inputs.config,
      version: WAYPOINT_VERSION,
      store,
      xdsConnected: () => link.xds.connected(),
      synced: () => link.synced(),
      listeners,
      certificates: () => certs.state(),
      currentCert: () => certs.current(),
    });
  const metrics: Handler = async (_req, res) => {
    res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  };
  const own: Array<{ name: string; listen: ListenAddress | undefined; routes: Record<string, Handler> }> = [
    { name: 'metrics', listen: c.metricsListen, routes: { '/metrics': metrics, '/stats/prometheus': metrics } },
    {
      name: 'readiness',
      listen: c.readinessListen,
      routes: {
        '/healthz/ready': (_req, res) => {
          const p = pending();
          if (p.length === 0) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
          else res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready, pending: ${p.join(', ')}\n`);
        },
      },
    },
    {
      name: 'admin',
      listen: c.adminListen,
      routes: {
        '/config_dump': (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(dump(), null, 2)}\n`);
        },
        // Liveness: the process answers (readiness is on 15021).
        '/healthz': (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        },
        '/quitquitquit': (req, res) => {
          if (req.method !== 'POST') {
            res.writeHead(405, { 'content-type': 'text/plain' }).end('POST to shut down\n');
            return;
          }
          res.writeHead(200, { 'content-type': 'text/plain' }).end('OK\n');
          log.info('shutdown requested on /quitquitquit');
          c.onQuit?.();
        },
      },
    },
  ];
  for (const s of own) {
    if (s.listen === undefined) continue;
    try {
      servers.push({ name: s.name, server: await startHttpServer(s.name, s.listen, s.routes, log) });
    } catch (err) {
      log.error({ server: s.name, listen: s.listen, err: errorMessage(err) }, 'cannot listen');
    }
  }
  void link.firstConfig.then(() => log.info({ generation: store.generation() }, 'first config from the controller applied'));

  let stopped: Promise<void> | undefined;
  return {
    inputs,
    registry,
    ready: () => pending().length === 0,
    pending,
    configDump: dump,
    listening: listeners,
    shutdown(graceMs) {
      stopped ??= (async () => {
        // Readiness fails first, so ztunnels stop choosing this pod while it finishes what it has.
        draining = true;
        await listener.close(graceMs).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'drain'));
        stopCollector();
        link.close();
        certs.close();
        await pool.close();
        await Promise.all(servers.map((s) => closeServer(s.server)));
      })();
      return stopped;
    },
  };
}

/** The xDS stream's credential, read per stream so a rotated projected token is picked up. */
async function readToken(file: string, log: Logger): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    log.warn({ file, err: errorMessage(err) }, 'cannot read the CA token file');
    return '';
  }
}
