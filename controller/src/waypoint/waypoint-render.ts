import { DATAPLANE_MODE_LABEL, DATAPLANE_MODE_NONE, GATEWAY_NAME_LABEL, WAYPOINT_GATEWAY_CLASS } from '../model/labels.ts';
import { GATEWAY_API_VERSION, GATEWAY_CLASS_NAME_LABEL, MANAGED_LABEL, MANAGED_VALUE, type WaypointGateway } from './waypoint-gateway.ts';

/** Ports of a waypoint pod (contract 3). */
export const WAYPOINT_PORTS = { hbone: 15008, metrics: 15020, readiness: 15021 } as const;
/** Where the cluster Deployment mounts the projected token and the mesh root (contract 3 flags point at them). */
export const CA_TOKEN_DIR = '/var/run/secrets/tokens';
export const CA_TOKEN_FILE = 'ambit-ca-token';
export const ROOT_CERT_DIR = '/var/run/secrets/ambit';
export const ROOT_CERT_FILE = 'root-cert.pem';

/** How waypoint Deployments are written: fixed per controller, from its flags. */
export interface WaypointDeployOptions {
  readonly trustDomain: string;
  /** What waypoints pass as `--controller`: `unix:<xDS socket>` (local mode) or `ambit-controller.<ns>.svc:15012`. */
  readonly controllerAddress: string;
  /** The container image (cluster); local pods ignore it. */
  readonly image: string;
  /**
   * Local mode: the argv that runs the waypoint from this checkout (`--waypoint-command`), used instead of the image's
   * `ambit waypoint`, and the directory it runs in (where `tsx` resolves).
   */
  readonly command?: { readonly argv: readonly string[]; readonly workingDir: string };
  /**
   * How a waypoint proves its identity to the CA (contract 6): a projected ServiceAccount token for `audience`
   * (cluster), or a credential the controller mints for the account, given inline as AMBIT_CA_TOKEN (local mode).
   */
  readonly caCredential:
    | { readonly kind: 'projected-token'; readonly audience: string }
    | { readonly kind: 'minted'; readonly mint: (namespace: string, serviceAccount: string) => string };
  /** Cluster: the ConfigMap with the mesh root (`ambit-ca-root-cert`), mounted and passed as `--root-cert-file`. */
  readonly rootCertConfigMap?: string;
  /** Local mode: waypoints leave when the runner that started them dies (`--exit-with-parent`). */
  readonly exitWithParent: boolean;
  /** AMBIT_LOG_LEVEL of the waypoint; default `info`. */
  readonly logLevel?: string;
}

export type KubeJson = Record<string, unknown>;

/** The three objects of one waypoint, named after the Gateway, as Istio's deployment controller names them. */
export interface WaypointObjects {
  readonly serviceAccount: KubeJson;
  readonly deployment: KubeJson;
  readonly service: KubeJson;
}

/** The reference that makes the Gateway own (and Kubernetes' GC remove) an object. */
export function gatewayOwnerRef(gw: Pick<WaypointGateway, 'name' | 'uid'>): KubeJson {
  return { apiVersion: GATEWAY_API_VERSION, kind: 'Gateway', name: gw.name, uid: gw.uid, controller: true };
}

const fieldRef = (name: string, fieldPath: string): KubeJson => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });

/**
 * Renders a waypoint after Istio's template (manifests/charts/istio-control/istio-discovery/files/waypoint.yaml):
 * ServiceAccount, Deployment and Service named after the Gateway, owned by it, carrying its infrastructure labels and
 * annotations. The labels the mesh depends on (gateway name, `istio.io/dataplane-mode: none` so ztunnel never captures
 * the waypoint, the managed label the controller watches by) are written after the infrastructure labels, so a
 * Gateway cannot override them; canonical names can be.
 */
export function renderWaypoint(gw: WaypointGateway, opts: WaypointDeployOptions): WaypointObjects {
  const { name, namespace } = gw;
  const infra = gw.infrastructure;
  const own = { [GATEWAY_NAME_LABEL]: name, [GATEWAY_CLASS_NAME_LABEL]: WAYPOINT_GATEWAY_CLASS, [MANAGED_LABEL]: MANAGED_VALUE };
  const metadata = (extraAnnotations: Record<string, string> = {}): KubeJson => ({
    name,
    namespace,
    labels: { ...infra.labels, ...own },
    annotations: { ...extraAnnotations, ...infra.annotations },
    ownerReferences: [gatewayOwnerRef(gw)],
  });

  const podLabels = {
    'service.istio.io/canonical-name': name,
    'service.istio.io/canonical-revision': 'latest',
    ...infra.labels,
    'sidecar.istio.io/inject': 'false',
    [DATAPLANE_MODE_LABEL]: DATAPLANE_MODE_NONE,
    ...own,
  };
  const podAnnotations = {
    ...infra.annotations,
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(WAYPOINT_PORTS.metrics),
    'prometheus.io/path': '/stats/prometheus',
  };

  const cluster = opts.command === undefined;
  const args = ['--controller', opts.controllerAddress, '--gateway-name', name, '--trust-domain', opts.trustDomain];
  const env: KubeJson[] = [
    fieldRef('POD_NAME', 'metadata.name'),
    fieldRef('POD_NAMESPACE', 'metadata.namespace'),
    fieldRef('POD_IP', 'status.podIP'),
    fieldRef('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'AMBIT_LOG_LEVEL', value: opts.logLevel ?? 'info' },
    // glibc raises its mmap threshold each time a large block is freed, after which relayed body buffers (up to 1 MiB
    // per HBONE frame) come from the heap and stay with the process once freed; a fixed threshold keeps them mmapped,
    // so their pages go back to the kernel when freed (waypoint/README.md "Memory and CPU").
    { name: 'MALLOC_MMAP_THRESHOLD_', value: '131072' },
  ];
  const volumes: KubeJson[] = [];
  const mounts: KubeJson[] = [];
  if (opts.caCredential.kind === 'projected-token') {
    args.push('--ca-token-file', `${CA_TOKEN_DIR}/${CA_TOKEN_FILE}`);
    volumes.push({
      name: 'ambit-token',
      projected: {
        sources: [{ serviceAccountToken: { audience: opts.caCredential.audience, expirationSeconds: 43200, path: CA_TOKEN_FILE } }],
      },
    });
    mounts.push({ name: 'ambit-token', mountPath: CA_TOKEN_DIR, readOnly: true });
  } else {
    env.push({ name: 'AMBIT_CA_TOKEN', value: opts.caCredential.mint(namespace, name) });
  }
  if (opts.rootCertConfigMap !== undefined) {
    args.push('--root-cert-file', `${ROOT_CERT_DIR}/${ROOT_CERT_FILE}`);
    volumes.push({ name: 'ambit-ca-root', configMap: { name: opts.rootCertConfigMap } });
    mounts.push({ name: 'ambit-ca-root', mountPath: ROOT_CERT_DIR, readOnly: true });
  }
  if (opts.exitWithParent) args.push('--exit-with-parent');

  const probe = (periodSeconds: number, failureThreshold: number): KubeJson => ({
    httpGet: { path: '/healthz/ready', port: WAYPOINT_PORTS.readiness, scheme: 'HTTP' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 1,
  });
  const container: KubeJson = {
    name: 'waypoint',
    image: opts.image,
    // Cluster: the image's entrypoint (`ambit`) runs the `waypoint` component, as the manifests' containers name
    // theirs in args; leaving `command` unset keeps the entrypoint, so a runtime that maps the image to a checkout
    // (the local cluster) runs it too. Local `--waypoint-command`: that argv replaces the entrypoint.
    ...(opts.command === undefined ? { args: ['waypoint', ...args] } : { command: [...opts.command.argv], args }),
    ...(opts.command === undefined ? {} : { workingDir: opts.command.workingDir }),
    env,
    ports: [
      { name: 'hbone', containerPort: WAYPOINT_PORTS.hbone, protocol: 'TCP' },
      { name: 'metrics', containerPort: WAYPOINT_PORTS.metrics, protocol: 'TCP' },
      { name: 'status-port', containerPort: WAYPOINT_PORTS.readiness, protocol: 'TCP' },
    ],
    // As Istio: a quick start-up probe so a new waypoint is ready within a second or two, then a slower one.
    startupProbe: probe(1, 30),
    readinessProbe: probe(15, 4),
    ...(mounts.length === 0 ? {} : { volumeMounts: mounts }),
    ...(cluster
      ? {
          securityContext: {
            allowPrivilegeEscalation: false,
            privileged: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            runAsUser: 1337,
            runAsGroup: 1337,
            capabilities: { drop: ['ALL'] },
          },
        }
      : {
          // `--waypoint-command` (a development stand-in or profiler wrapper): its argv names host paths of a checkout
          // the image's USER (10001, which the local kubelet applies as a runtime would) may not enter, and a
          // controller serving a unix socket keeps it root's (0600).
          securityContext: { runAsUser: 0 },
        }),
  };

  return {
    serviceAccount: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: metadata() },
    deployment: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(),
      spec: {
        // Only at creation: the deployer leaves `replicas` out of its drift check, so an operator (or an HPA) may
        // scale a waypoint, as Istio's template allows.
        replicas: 1,
        selector: { matchLabels: { [GATEWAY_NAME_LABEL]: name } },
        template: {
          metadata: { labels: podLabels, annotations: podAnnotations },
          spec: { serviceAccountName: name, containers: [container], ...(volumes.length === 0 ? {} : { volumes }) },
        },
      },
    },
    service: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata({ 'networking.istio.io/traffic-distribution': 'PreferClose' }),
      spec: {
        type: 'ClusterIP',
        selector: { [GATEWAY_NAME_LABEL]: name },
        ports: [
          { name: 'mesh', port: WAYPOINT_PORTS.hbone, protocol: 'TCP', appProtocol: 'hbone' },
          { name: 'status-port', port: WAYPOINT_PORTS.readiness, protocol: 'TCP', appProtocol: 'tcp' },
          { name: 'metrics', port: WAYPOINT_PORTS.metrics, protocol: 'TCP', appProtocol: 'http' },
        ],
      },
    },
  };
}

/**
 * True when every field `want` sets has the same value in `live`: maps may hold more keys (what the API server
 * defaults, what others add), lists must have the same length with each entry a subset, and a missing map or list
 * equals an empty one (the API server omits empty ones). The deployer's drift check: it re-applies only when
 * something it wrote was changed or removed.
 */
export function isSubset(want: unknown, live: unknown): boolean {
  if (Array.isArray(want)) {
    const l: unknown = live ?? [];
    return Array.isArray(l) && l.length === want.length && want.every((w, i) => isSubset(w, l[i]));
  }
  if (want !== null && typeof want === 'object') {
    const l: unknown = live ?? {};
    if (typeof l !== 'object' || l === null || Array.isArray(l)) return false;
    const map = l as Record<string, unknown>;
    return Object.entries(want as Record<string, unknown>).every(([k, w]) => w === undefined || isSubset(w, map[k]));
  }
  return want === live;
}
