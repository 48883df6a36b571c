// The Kubernetes API calls Ambit's components make, one row per (component, resource, verb), each with the code
// that makes it. test/repo/deploy.test.ts checks this table both ways against the RBAC rendered from deploy/: every
// row is granted (and nothing else is), every `evidence` string is in its `source` file, and every informer kind and
// status write it can find by scanning the code has its rows here. ztunnel and waypoints call no Kubernetes API (they
// talk to the controller only), so they have no rows and no Role.

export type Component = 'controller' | 'node-agent';

export interface ApiCall {
  readonly component: Component;
  /** API group, '' for the core group. */
  readonly group: string;
  /** Resource plural, or `plural/status` for the status subresource. */
  readonly resource: string;
  readonly verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  /** `cluster`: a ClusterRole; otherwise the namespace of a Role. */
  readonly scope: 'cluster' | 'ambit-system';
  /** When the rule is restricted to these names. */
  readonly resourceNames?: readonly string[];
  /** Repository path of the code that makes the call… */
  readonly source: string;
  /** …and a string in it that shows the call. */
  readonly evidence: string;
}

const WATCHED = 'controller/src/kube/watched-kinds.ts';
const DEPLOYER = 'controller/src/waypoint/waypoint-deployer.ts';
const STATUS = 'controller/src/status/status-writer.ts';

/** list + watch of an informer (core/src/kube/informer.ts) started from WATCHED_KINDS. */
function informed(group: string, resource: string): ApiCall[] {
  const evidence = `'${resource}'`;
  return [
    { component: 'controller', group, resource, verb: 'list', scope: 'cluster', source: WATCHED, evidence },
    { component: 'controller', group, resource, verb: 'watch', scope: 'cluster', source: WATCHED, evidence },
  ];
}

/** A status merge patch by the StatusWriter. */
function status(group: string, resource: string): ApiCall {
  return {
    component: 'controller',
    group,
    resource: `${resource}/status`,
    verb: 'patch',
    scope: 'cluster',
    source: STATUS,
    evidence: `/status`,
  };
}

/** What the waypoint deployer does to each object it owns (get, create, merge-patch drift, delete). */
function deployed(group: string, resource: string): ApiCall[] {
  return [
    {
      component: 'controller',
      group,
      resource,
      verb: 'get',
      scope: 'cluster',
      source: DEPLOYER,
      evidence: 'this.opts.client.get<KubeJson>(path)',
    },
    {
      component: 'controller',
      group,
      resource,
      verb: 'create',
      scope: 'cluster',
      source: DEPLOYER,
      evidence: "request('POST', collection, want)",
    },
    {
      component: 'controller',
      group,
      resource,
      verb: 'patch',
      scope: 'cluster',
      source: DEPLOYER,
      evidence: "request('PATCH', path, fields",
    },
    { component: 'controller', group, resource, verb: 'delete', scope: 'cluster', source: DEPLOYER, evidence: "request('DELETE', path" },
  ];
}

const NODE_AGENT = 'cni/src/agent/agent.ts';
const POD_LOOKUP = 'cni/src/agent/pod-lookup.ts';

export const API_CALLS: readonly ApiCall[] = [
  // controller: the model's informers.
  ...informed('', 'namespaces'),
  ...informed('', 'pods'),
  ...informed('', 'services'),
  ...informed('', 'serviceaccounts'),
  ...informed('', 'nodes'),
  ...informed('', 'configmaps'),
  ...informed('discovery.k8s.io', 'endpointslices'),
  ...informed('security.istio.io', 'authorizationpolicies'),
  ...informed('security.istio.io', 'peerauthentications'),
  ...informed('networking.istio.io', 'destinationrules'),
  ...informed('gateway.networking.k8s.io', 'gateways'),
  ...informed('gateway.networking.k8s.io', 'httproutes'),
  ...informed('gateway.networking.k8s.io', 'grpcroutes'),
  ...informed('gateway.networking.k8s.io', 'referencegrants'),
  ...informed('gateway.networking.k8s.io', 'gatewayclasses'),
  ...informed('ambit.dev', 'localratelimits'),
  ...informed('ambit.dev', 'httpfaults'),
  ...informed('apps', 'deployments'),
  // controller: status conditions.
  status('security.istio.io', 'authorizationpolicies'),
  status('security.istio.io', 'peerauthentications'),
  status('networking.istio.io', 'destinationrules'),
  status('gateway.networking.k8s.io', 'gateways'),
  status('gateway.networking.k8s.io', 'gatewayclasses'),
  status('gateway.networking.k8s.io', 'httproutes'),
  status('gateway.networking.k8s.io', 'grpcroutes'),
  status('ambit.dev', 'localratelimits'),
  status('ambit.dev', 'httpfaults'),
  // controller: the waypoint deployer's ServiceAccount, Service and Deployment per waypoint Gateway, and its class.
  ...deployed('', 'serviceaccounts'),
  ...deployed('', 'services'),
  ...deployed('apps', 'deployments'),
  {
    component: 'controller',
    group: 'gateway.networking.k8s.io',
    resource: 'gatewayclasses',
    verb: 'create',
    scope: 'cluster',
    source: DEPLOYER,
    evidence: "request('POST', `/apis/${GATEWAY_API_VERSION}/gatewayclasses`",
  },
  // controller: the root-cert ConfigMap in every namespace.
  ...(['create', 'patch'] as const).map((verb): ApiCall => ({
    component: 'controller',
    group: '',
    resource: 'configmaps',
    verb,
    scope: 'cluster',
    source: 'controller/src/status/root-cert-publisher.ts',
    evidence: verb === 'create' ? "request('POST', path, body)" : "request('PATCH', `${path}/${ROOT_CONFIGMAP}`",
  })),
  // controller: the CA authenticates callers by TokenReview and reads the caller's pod.
  {
    component: 'controller',
    group: 'authentication.k8s.io',
    resource: 'tokenreviews',
    verb: 'create',
    scope: 'cluster',
    source: 'controller/src/ca/token-review-authenticator.ts',
    evidence: 'this.auth.createTokenReview',
  },
  {
    component: 'controller',
    group: '',
    resource: 'pods',
    verb: 'get',
    scope: 'cluster',
    source: 'controller/src/ca/token-review-authenticator.ts',
    evidence: 'this.core.readNamespacedPod',
  },
  // controller: leader election in ambit-system.
  ...(['get', 'update'] as const).map((verb): ApiCall => ({
    component: 'controller',
    group: 'coordination.k8s.io',
    resource: 'leases',
    verb,
    scope: 'ambit-system',
    resourceNames: ['ambit-controller'],
    source: 'controller/src/leader/lease-election.ts',
    evidence: verb === 'get' ? "request<Lease>('GET', this.#path())" : "request('PUT', this.#path(), lease)",
  })),
  {
    component: 'controller',
    group: 'coordination.k8s.io',
    resource: 'leases',
    verb: 'create',
    scope: 'ambit-system',
    source: 'controller/src/leader/lease-election.ts',
    evidence: ".request('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`",
  },
  // controller: the CA root in Secret ambit-ca (or an operator's cacerts).
  {
    component: 'controller',
    group: '',
    resource: 'secrets',
    verb: 'get',
    scope: 'ambit-system',
    resourceNames: ['ambit-ca', 'cacerts'],
    source: 'controller/src/ca/kube-secret.ts',
    evidence: 'api.readNamespacedSecret',
  },
  {
    component: 'controller',
    group: '',
    resource: 'secrets',
    verb: 'create',
    scope: 'ambit-system',
    source: 'controller/src/ca/secret-root-store.ts',
    evidence: 'this.api.createNamespacedSecret',
  },
  // node agent: its informers, and the lookups of one pod and its namespace for the CNI plugin.
  ...(['list', 'watch'] as const).flatMap((verb) =>
    (['pods', 'namespaces'] as const).map((resource): ApiCall => ({
      component: 'node-agent',
      group: '',
      resource,
      verb,
      scope: 'cluster',
      source: NODE_AGENT,
      evidence: `'${resource}'`,
    })),
  ),
  ...(['pods', 'namespaces'] as const).map((resource): ApiCall => ({
    component: 'node-agent',
    group: '',
    resource,
    verb: 'get',
    scope: 'cluster',
    source: POD_LOOKUP,
    evidence: resource === 'pods' ? '`/api/v1/namespaces/${ns}/pods/' : '`/api/v1/namespaces/${ns}`',
  })),
  // node agent: on SIGTERM, its own DaemonSet (gone or being deleted = uninstall); its own pod is a `get pods` above.
  {
    component: 'node-agent',
    group: 'apps',
    resource: 'daemonsets',
    verb: 'get',
    scope: 'ambit-system',
    resourceNames: ['ambit-node-agent'],
    source: 'cni/src/agent/uninstall-check.ts',
    evidence: '`/apis/apps/v1/namespaces/${ns}/daemonsets/',
  },
];
