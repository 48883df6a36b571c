import type { KubeObject } from '../kube/types.ts';
import type { ObjectStore } from '../store/object-store.ts';

/**
 * The default ClusterRoles and ClusterRoleBindings kube-apiserver creates at start (its `rbac/bootstrap-roles`
 * post-start hook, plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) that a client of this cluster relies
 * on: discovery and OpenAPI for every authenticated user (what kubectl reads before anything else), self-reviews
 * (`kubectl auth can-i`, `kubectl auth whoami`), health and version for everyone, `cluster-admin` for
 * system:masters, and `system:auth-delegator` for components that call TokenReview/SubjectAccessReview.
 *
 * Not created: the user-facing aggregated roles (admin, edit, view and their system:aggregate-to-* parts) and the
 * controller/node roles of kube-controller-manager and the kubelet, which run in-process here.
 */

const RBAC = 'rbac.authorization.k8s.io/v1';
const BOOTSTRAP_LABELS = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
const AUTO_UPDATE = { 'rbac.authorization.kubernetes.io/autoupdate': 'true' };

const DISCOVERY_URLS = [
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
  '/healthz',
  '/livez',
  '/openapi',
  '/openapi/*',
  '/readyz',
  '/version',
  '/version/',
];
const PUBLIC_INFO_URLS = ['/healthz', '/livez', '/readyz', '/version', '/version/'];

function clusterRole(name: string, rules: readonly Record<string, unknown>[]): KubeObject {
  return { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name, labels: BOOTSTRAP_LABELS, annotations: AUTO_UPDATE }, rules };
}

function groupBinding(name: string, role: string, groups: readonly string[]): KubeObject {
  return {
    apiVersion: RBAC,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: BOOTSTRAP_LABELS, annotations: AUTO_UPDATE },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: groups.map((g) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: g })),
  };
}

export function bootstrapPolicy(): KubeObject[] {
  return [
    clusterRole('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ]),
    clusterRole('system:discovery', [{ nonResourceURLs: DISCOVERY_URLS, verbs: ['get'] }]),
    clusterRole('system:public-info-viewer', [{ nonResourceURLs: PUBLIC_INFO_URLS, verbs: ['get'] }]),
    clusterRole('system:basic-user', [
      { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
    ]),
    clusterRole('system:auth-delegator', [
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ]),
    groupBinding('cluster-admin', 'cluster-admin', ['system:masters']),
    groupBinding('system:discovery', 'system:discovery', ['system:authenticated']),
    groupBinding('system:basic-user', 'system:basic-user', ['system:authenticated']),
    groupBinding('system:public-info-viewer', 'system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
  ];
}

/** Creates the bootstrap objects that are missing; existing ones are left as they are (an operator may have edited them). */
export function ensureBootstrapPolicy(store: ObjectStore): void {
  for (const obj of bootstrapPolicy()) {
    const type = store.typeOf(obj);
    if (store.find(type, undefined, obj.metadata.name ?? '') === undefined) store.create(obj);
  }
}
