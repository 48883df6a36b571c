import { readFileSync } from 'node:fs';
import type { Server } from '@grpc/grpc-js';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '@ambit/core';
import { ADDRESS_TYPE_URL, asRecord, AUTHORIZATION_TYPE_URL, authorizationKey, errorMessage, serviceKey } from '@ambit/core';
import { encodeAddress, encodeAuthorization } from '@ambit/core/codec';
import { KubeClient, startInformer, type RunningInformer, type WatchEventType } from '@ambit/core/kube';
import {
  addCaService,
  createCaMetrics,
  createMeshCa,
  FileRootStore,
  LocalModeAuthenticator,
  NodeCredentialAuthenticator,
  SecretPluggedCa,
  SecretRootStore,
  TokenReviewAuthenticator,
  WORKLOAD_CREDENTIAL_PURPOSE,
  WorkloadCredentials,
  type Authenticator,
  type MeshCa,
} from './ca/index.ts';
import type { ControllerConfig } from './config.ts';
import { startDebugServer } from './debug/debug-server.ts';
import { WATCHED_KINDS } from './kube/watched-kinds.ts';
import { LeaseElection } from './leader/lease-election.ts';
import { ModelBuilder, type ModelDelta } from './model/index.ts';
import { GatewayStatus, gatewayClassConditions } from './status/gateway-status.ts';
import { RootCertPublisher, ROOT_CONFIGMAP } from './status/root-cert-publisher.ts';
import { createRoutePublisher, RouteBuilder } from './routes/index.ts';
import { createTrafficPublisher, TrafficBuilder } from './traffic/index.ts';
import { StatusWriter, type Condition } from './status/status-writer.ts';
import { createXdsServer } from './xds/index.ts';
import { createModelMetrics } from './model-metrics.ts';
import { createL7Publisher, L7AuthorizationBuilder } from './l7/index.ts';
import { WaypointDeployer } from './waypoint/waypoint-deployer.ts';
import type { WaypointDeployOptions } from './waypoint/waypoint-render.ts';

const SERVING_CERT_TTL_SECONDS = 365 * 86400;

async function servingTls(ca: MeshCa, config: ControllerConfig): Promise<{ key: string; cert: string; ca: string }> {
  const ns = config.systemNamespace;
  const { keyPem, certChainPem } = await ca.issueServingCertificate({
    identity: `spiffe://${config.trustDomain}/ns/${ns}/sa/ambit-controller`,
    dnsNames: ['ambit-controller', `ambit-controller.${ns}`, `ambit-controller.${ns}.svc`, `ambit-controller.${ns}.svc.cluster.local`],
    ttlSeconds: SERVING_CERT_TTL_SECONDS,
  });
  return { key: keyPem, cert: certChainPem, ca: ca.rootCertPem() };
}

export interface RunningController {
  /** Where proxies connect: `unix:/path` or `host:port`. */
  readonly grpcAddress: string;
  /** The CA root proxies verify the controller (and each other) with. */
  readonly rootCertPem: string;
  isLeader(): boolean;
  stop(): Promise<void>;
}

/**
 * Wires the controller (DESIGN §5–6): informers → incremental model → delta-xDS push; the CA on the same gRPC
 * server; status and root ConfigMaps written by the Lease leader only; debug and metrics endpoints. Every replica
 * computes the model and serves xDS and the CA, so proxies may use any of them.
 */
export async function startController(config: ControllerConfig, log: Logger): Promise<RunningController> {
  const kc = new KubeConfig();
  if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromCluster();
  const client = new KubeClient(kc);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const modelMetrics = createModelMetrics(registry);
  const builder = new ModelBuilder({ trustDomain: config.trustDomain, clusterId: config.clusterId, rootNamespace: config.systemNamespace });

  const ca = await createMeshCa({
    trustDomain: config.trustDomain,
    rootStore:
      config.caStore.kind === 'file'
        ? new FileRootStore(config.caStore.dir)
        : new SecretRootStore(kc, { namespace: config.systemNamespace }),
    ...(config.caStore.kind === 'secret' ? { pluggedCa: new SecretPluggedCa(kc, { namespace: config.systemNamespace }) } : {}),
    defaultTtlSeconds: config.certTtlSeconds,
    maxTtlSeconds: config.maxCertTtlSeconds,
    log,
  });
  // Local mode also accepts the credentials it mints for waypoints (contract 6); in a cluster they present tokens.
  const workloadCredentials = new WorkloadCredentials(ca.deriveKey(WORKLOAD_CREDENTIAL_PURPOSE));
  const authenticator: Authenticator =
    config.caAuth.kind === 'node-credentials'
      ? new LocalModeAuthenticator(
          new NodeCredentialAuthenticator(JSON.parse(readFileSync(config.caAuth.file, 'utf8')) as Record<string, string>),
          workloadCredentials,
        )
      : new TokenReviewAuthenticator({ kubeConfig: kc, audience: config.caAuth.audience, trustedAccounts: config.caAuth.trustedAccounts });

  // Over TCP (a cluster's :15012) the gRPC server speaks TLS with a certificate from the mesh CA, so proxies verify
  // the controller with the root they already trust. Unix sockets (local mode) are protected by file permissions.
  const tls = 'socketPath' in config.grpc ? undefined : await servingTls(ca, config);
  const xds = await createXdsServer({
    listen: config.grpc,
    ...(tls === undefined ? {} : { tls }),
    log,
    registry,
    configure: (server: Server) =>
      addCaService(server, {
        ca,
        authenticator,
        serviceAccountOnNode: (ns, sa, node) => builder.hasServiceAccountOnNode(ns, sa, node),
        metrics: createCaMetrics(registry),
        log,
      }),
  });

  // Status writers ask the election at write time; the election is created right after them.
  const isLeader = (): boolean => election.isLeader();
  const statusWriter = new StatusWriter(client, log, isLeader);
  const rootPublisher = new RootCertPublisher(client, () => ca.rootCertPem(), isLeader, log);
  const gateways = new GatewayStatus();
  const routes = new RouteBuilder();
  const publishRoutes = createRoutePublisher({ xds, status: statusWriter, log, countInvalid: () => modelMetrics.invalidObjects.inc() });
  const l7 = new L7AuthorizationBuilder();
  const publishL7 = createL7Publisher({ xds, status: statusWriter, log, countInvalid: () => modelMetrics.invalidObjects.inc() });
  const traffic = new TrafficBuilder({ trustDomain: config.trustDomain, clusterId: config.clusterId });
  const publishTraffic = createTrafficPublisher({ xds, status: statusWriter, log, countInvalid: () => modelMetrics.invalidObjects.inc() });
  const deployer = new WaypointDeployer({
    client,
    deploy: waypointDeployOptions(config, (ns, sa) => workloadCredentials.mint(ns, sa)),
    isLeader,
    log,
    onProblem: (key, message) => writeGateway(gateways.deployProblem(key, message)),
  });
  const election: LeaseElection = new LeaseElection({
    client,
    namespace: config.systemNamespace,
    name: 'ambit-controller',
    identity: config.identity,
    log,
    onChange: (leading) => {
      if (!leading) return;
      // A new term: what an earlier leader wrote may be stale, so write everything once.
      statusWriter.invalidate();
      rootPublisher.invalidate();
      void statusWriter.resync();
      void rootPublisher.resync();
      deployer.resync();
    },
  });
  election.start();

  const publish = (delta: ModelDelta): void => {
    const w = delta.workloads;
    const s = delta.services;
    if (w.upserted.length + w.removed.length + s.upserted.length + s.removed.length > 0) {
      xds.publish(ADDRESS_TYPE_URL, {
        upserted: [
          ...w.upserted.map((workload) => ({ name: workload.uid, body: encodeAddress({ workload }) })),
          ...s.upserted.map((service) => ({ name: serviceKey(service), body: encodeAddress({ service }) })),
        ],
        removed: [...w.removed, ...s.removed],
      });
    }
    const a = delta.authorizations;
    if (a.upserted.length + a.removed.length > 0) {
      xds.publish(AUTHORIZATION_TYPE_URL, {
        upserted: a.upserted.map((authz) => ({ name: authorizationKey(authz), body: encodeAuthorization(authz) })),
        removed: [...a.removed],
      });
    }
    for (const e of delta.errors) {
      modelMetrics.invalidObjects.inc();
      log.debug({ object: e.object, field: e.field, err: e.message }, 'object not used in the model');
    }
    for (const st of delta.policyStatus) {
      // A targetRefs policy carries only the waypoint's condition (WaypointAccepted, from the L7 publisher): writing
      // this one too would replace it, as both patch the whole conditions list.
      if (st.kind === 'AuthorizationPolicy' && st.status.reason === 'NotForZtunnel') continue;
      // Istio's condition type for policies ztunnel enforces; the message says which fields were ignored and why.
      const condition: Condition = {
        type: 'ZtunnelAccepted',
        status: st.status.accepted ? 'True' : 'False',
        reason: st.status.reason,
        message: st.status.message,
      };
      void statusWriter.set(
        {
          apiVersion: 'security.istio.io/v1',
          plural: st.kind === 'AuthorizationPolicy' ? 'authorizationpolicies' : 'peerauthentications',
          namespace: st.namespace,
          name: st.name,
        },
        [condition],
      );
    }
  };

  const writeGateway = (key: string | undefined): void => {
    if (key === undefined) return;
    const c = gateways.conditions(key);
    if (c === undefined) return;
    void statusWriter.set({ apiVersion: 'gateway.networking.k8s.io/v1', plural: 'gateways', ...c.target }, c.conditions, c.generation, {
      addresses: c.addresses,
    });
  };

  const onEvent =
    (kind: string) =>
    (type: WatchEventType, obj: Record<string, unknown>): void => {
      const meta = asRecord(obj['metadata']);
      const started = performance.now();
      try {
        const delta = builder.apply({ type, object: obj });
        publish(delta);
        publishRoutes(routes.apply({ type, object: obj }));
        // After the model: Service targets resolve against the Services (and waypoints) it just computed.
        publishL7(l7.apply({ type, object: obj }, delta.services));
        publishTraffic(traffic.apply({ type, object: obj }));
      } catch (err) {
        // The builder reports bad objects in delta.errors; a throw here is a bug, but must not stop the controller.
        log.error(
          { kind, object: `${String(meta['namespace'] ?? '')}/${String(meta['name'] ?? '')}`, err: errorMessage(err) },
          'BUG: model update failed',
        );
      }
      modelMetrics.applySeconds.observe((performance.now() - started) / 1000);
      // The waypoint deployer's own objects: a change may be drift to repair; the Service's IP is the Gateway's address.
      if (kind === 'Deployment' || kind === 'Service' || kind === 'ServiceAccount') deployer.owned(obj);
      if (kind === 'Service') writeGateway(gateways.service(type, obj));
      if (kind === 'Namespace') {
        const ns = String(meta['name']);
        if (type === 'delete' || meta['deletionTimestamp'] !== undefined) rootPublisher.namespaceRemoved(ns);
        else void rootPublisher.namespaceAdded(ns);
      } else if (kind === 'ConfigMap' && meta['name'] === ROOT_CONFIGMAP) {
        void rootPublisher.configMapChanged(String(meta['namespace']), type === 'delete' ? undefined : asRecord(obj['data']));
      } else if (kind === 'Gateway') {
        if (type === 'delete')
          statusWriter.forget({
            apiVersion: 'gateway.networking.k8s.io/v1',
            plural: 'gateways',
            namespace: String(meta['namespace']),
            name: String(meta['name']),
          });
        writeGateway(gateways.gateway(type, obj));
        deployer.gateway(type, obj);
      } else if (kind === 'EndpointSlice') {
        writeGateway(gateways.endpointSlice(type, obj));
      } else if (kind === 'GatewayClass') {
        deployer.gatewayClass(type, obj);
        const conditions = type === 'delete' ? undefined : gatewayClassConditions(obj);
        const target = { apiVersion: 'gateway.networking.k8s.io/v1', plural: 'gatewayclasses', namespace: '', name: String(meta['name']) };
        if (conditions === undefined) statusWriter.forget(target);
        else void statusWriter.set(target, conditions, typeof meta['generation'] === 'number' ? meta['generation'] : undefined);
      } else if ((kind === 'AuthorizationPolicy' || kind === 'PeerAuthentication') && type === 'delete') {
        statusWriter.forget({
          apiVersion: 'security.istio.io/v1',
          plural: kind === 'AuthorizationPolicy' ? 'authorizationpolicies' : 'peerauthentications',
          namespace: String(meta['namespace']),
          name: String(meta['name']),
        });
      }
    };

  const informers: RunningInformer[] = WATCHED_KINDS.map((kind) => startInformer({ kc, client, kind, onEvent: onEvent(kind.kind), log }));
  let synced = false;
  void Promise.all(informers.map((i) => i.synced)).then(() => {
    synced = true;
    // The GatewayClass is created only once the informers know it is absent.
    deployer.resync();
    log.info({ workloads: builder.snapshot().workloads.length }, 'informers synced');
  });

  const debug = await startDebugServer(
    {
      model: () => ({ ...builder.snapshot(), l7Authorizations: l7.snapshot() }),
      connections: () => xds.connections(),
      metrics: () => registry.metrics(),
      metricsContentType: registry.contentType,
      ready: () => synced,
    },
    { ...config.debug, log },
  );
  log.info({ grpc: xds.address, debug: config.debug, identity: config.identity, caSource: ca.source }, 'controller started');

  return {
    grpcAddress: xds.address,
    rootCertPem: ca.rootCertPem(),
    isLeader,
    async stop() {
      await Promise.all(informers.map((i) => i.stop()));
      await deployer.stop();
      await election.stop();
      await debug.close();
      await xds.close();
    },
  };
}

/** How this controller's waypoint Deployments reach it and prove their identity (contracts 3 and 6). */
function waypointDeployOptions(
  config: ControllerConfig,
  mint: (namespace: string, serviceAccount: string) => string,
): WaypointDeployOptions {
  const local = 'socketPath' in config.grpc;
  return {
    trustDomain: config.trustDomain,
    // Local pods share the host's filesystem, so the unix socket reaches across network namespaces.
    controllerAddress: local ? `unix:${config.grpc.socketPath}` : `ambit-controller.${config.systemNamespace}.svc:${config.grpc.port}`,
    image: config.waypoint.image,
    ...(config.waypoint.command === undefined ? {} : { command: config.waypoint.command }),
    caCredential:
      config.caAuth.kind === 'token-review' ? { kind: 'projected-token', audience: config.caAuth.audience } : { kind: 'minted', mint },
    // Over TCP the controller speaks TLS with a mesh certificate: waypoints verify it with the published root.
    ...(local ? {} : { rootCertConfigMap: ROOT_CONFIGMAP }),
    exitWithParent: config.waypoint.command !== undefined,
    logLevel: config.logLevel,
  };
}
