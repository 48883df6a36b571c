import { describeObject, isRecord, KubeObjectError } from '@ambit/core';
import { convertAuthorizationPolicy } from './authorization-policy.ts';
import { ChangeTracker } from './change-tracker.ts';
import {
  authorizationKey,
  DEFAULT_CLUSTER_ID,
  DEFAULT_TRUST_DOMAIN,
  ROOT_NAMESPACE,
  type Authorization,
  type Service,
  type Workload,
} from './core-model.ts';
import {
  parseGateway,
  parseNamespace,
  parsePod,
  parseService,
  type GatewayView,
  type NamespaceView,
  type PodView,
  type ServiceView,
} from './kube-objects.ts';
import { selectorMatches } from './labels.ts';
import type { ModelChange, ModelDelta, ModelError, ModelOptions, ModelSnapshot, NodePod, PolicyStatusUpdate } from './model-types.ts';
import { NamespacedStore } from './namespaced-store.ts';
import { identityOf, modelKindOf, type ModelKind, type ObjectIdentity } from './object-kind.ts';
import {
  convertPeerAuthentication,
  needsStaticStrict,
  peerAuthenticationKeys,
  peerAuthenticationStatus,
  selectPeerAuthentications,
  STATIC_STRICT_POLICY_NAME,
  staticStrictAuthorization,
} from './peer-authentication.ts';
import { rejected, type PolicyStatus } from './policy-status.ts';
import {
  parseAuthorizationPolicy,
  parsePeerAuthentication,
  type AuthorizationPolicyView,
  type PeerAuthenticationView,
} from './security-objects.ts';
import { buildService, serviceHostname, serviceSelectsPod } from './service.ts';
import type { WaypointProblem } from './waypoint.ts';
import { buildWorkload, workloadUid } from './workload.ts';

type PolicyKind = PolicyStatusUpdate['kind'];

/**
 * Kubernetes objects in, mesh model deltas out. Each `apply` stores the object's typed view, recomputes only the
 * outputs that can depend on it, and reports what actually changed:
 * - Pod → its workload;
 * - Service → the Service, and the workloads its old or new selector picks;
 * - Namespace → its workloads and Services (dataplane mode, waypoint labels);
 * - Gateway → every workload and Service (`istio.io/use-waypoint-namespace` can point at it from anywhere);
 * - AuthorizationPolicy → its Authorization, and the workloads its old or new selector picks;
 * - PeerAuthentication → the generated Authorizations, and the workloads of its namespace (all, for the root one).
 * An object that does not parse is reported in `errors` and the last good version of it is kept: dropping it would
 * open what a policy closed, or remove endpoints, because of one bad edit.
 */
export class ModelBuilder {
  private readonly trustDomain: string;
  private readonly clusterId: string;
  private readonly rootNamespace: string;

  private readonly pods = new NamespacedStore<PodView>();
  private readonly podsByNode = new Map<string, Map<string, PodView>>();
  private readonly services = new NamespacedStore<ServiceView>();
  private readonly namespaces = new Map<string, NamespaceView>();
  private readonly gateways = new NamespacedStore<GatewayView>();
  private readonly authorizationPolicies = new NamespacedStore<AuthorizationPolicyView>();
  private readonly peerAuthentications = new NamespacedStore<PeerAuthenticationView>();

  private readonly workloadsOut = new ChangeTracker<Workload>();
  private readonly servicesOut = new ChangeTracker<Service>();
  private readonly authorizationsOut = new ChangeTracker<Authorization>();
  /** Keys of the generated (PeerAuthentication) Authorizations currently in authorizationsOut. */
  private generatedKeys = new Set<string>();
  private readonly lastStatus = new Map<string, PolicyStatus>();

  private errors: ModelError[] = [];
  private statusUpdates: PolicyStatusUpdate[] = [];
  /**
   * The waypoint problem last reported per output (`w:<uid>`, `s:<key>`): a problem is reported when it appears or
   * changes, not on every recompute, so re-applies stay quiet.
   */
  private readonly reportedProblems = new Map<string, string>();
  private invalidObjectCount = 0;

  constructor(options: ModelOptions = {}) {
    this.trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.clusterId = options.clusterId ?? DEFAULT_CLUSTER_ID;
    this.rootNamespace = options.rootNamespace ?? ROOT_NAMESPACE;
  }

  /** Objects rejected so far (a counter for metrics); each is also reported once in its delta's `errors`. */
  get invalidObjects(): number {
    return this.invalidObjectCount;
  }

  apply(change: ModelChange): ModelDelta {
    try {
      this.dispatch(change);
    } catch (err) {
      if (!(err instanceof KubeObjectError)) throw err;
      this.invalidObjectCount += 1;
      this.errors.push({ object: err.object, field: err.field, message: err.message });
    }
    return this.takeDelta();
  }

  snapshot(): ModelSnapshot {
    return {
      workloads: this.workloadsOut.sortedValues(),
      services: this.servicesOut.sortedValues(),
      authorizations: this.authorizationsOut.sortedValues(),
    };
  }

  /** Pods scheduled on `node`, for the CA's node authorization. */
  podsOnNode(node: string): NodePod[] {
    return [...(this.podsByNode.get(node)?.values() ?? [])].map((p) => ({
      namespace: p.meta.namespace,
      name: p.meta.name,
      serviceAccount: p.serviceAccountName,
      uid: p.meta.uid,
      phase: p.phase,
    }));
  }

  /**
   * Istio's impersonation check (is:`security/pkg/server/ca/node_auth.go`): a node's ztunnel may get a certificate
   * for `namespace/serviceAccount` only while a pod with that identity that has not finished is scheduled there.
   */
  hasServiceAccountOnNode(namespace: string, serviceAccount: string, node: string): boolean {
    for (const p of this.podsByNode.get(node)?.values() ?? []) {
      if (p.meta.namespace === namespace && p.serviceAccountName === serviceAccount && p.phase !== 'Succeeded' && p.phase !== 'Failed') {
        return true;
      }
    }
    return false;
  }

  private dispatch(change: ModelChange): void {
    if (!isRecord(change) || (change.type !== 'upsert' && change.type !== 'delete')) {
      throw new KubeObjectError(describeObject(isRecord(change) ? change.object : undefined), 'type', "must be 'upsert' or 'delete'");
    }
    const kind = modelKindOf(change.object);
    if (kind === undefined) return;
    if (change.type === 'delete') {
      this.remove(identityOf(kind, change.object));
      return;
    }
    try {
      this.upsert(kind, change.object);
    } catch (err) {
      // An unreadable policy still gets a status saying why, so its author sees it on the object.
      if (err instanceof KubeObjectError && (kind === 'AuthorizationPolicy' || kind === 'PeerAuthentication')) {
        const id = tryIdentity(kind, change.object);
        if (id !== undefined) this.setStatus(kind, id.namespace, id.name, rejected('InvalidValue', err.message));
      }
      throw err;
    }
  }

  private upsert(kind: ModelKind, object: unknown): void {
    switch (kind) {
      case 'Pod': {
        const pod = parsePod(object);
        this.putPod(pod);
        this.recomputeWorkload(pod.meta.namespace, pod.meta.name);
        return;
      }
      case 'Service': {
        const svc = parseService(object);
        const old = this.services.get(svc.meta.namespace, svc.meta.name);
        this.services.set(svc.meta.namespace, svc.meta.name, svc);
        this.serviceChanged(svc.meta.namespace, svc.meta.name, old, svc);
        return;
      }
      case 'Namespace': {
        const ns = parseNamespace(object);
        this.namespaces.set(ns.meta.name, ns);
        this.recomputeNamespace(ns.meta.name);
        return;
      }
      case 'Gateway': {
        const gw = parseGateway(object);
        this.gateways.set(gw.meta.namespace, gw.meta.name, gw);
        this.recomputeEverything();
        return;
      }
      case 'AuthorizationPolicy': {
        const ap = parseAuthorizationPolicy(object);
        const { namespace, name } = ap.meta;
        const old = this.authorizationPolicies.get(namespace, name);
        // Convert before storing, so an unconvertible edit keeps the last good version (class comment).
        const converted = convertAuthorizationPolicy(ap, this.rootNamespace);
        this.authorizationPolicies.set(namespace, name, ap);
        const key = `${namespace}/${name}`;
        if (converted.authorization === undefined) this.authorizationsOut.delete(key);
        else this.authorizationsOut.set(key, converted.authorization);
        this.setStatus(kind, namespace, name, converted.status);
        this.policySelectorChanged(namespace, old?.selector, ap.selector);
        return;
      }
      case 'PeerAuthentication': {
        const pa = parsePeerAuthentication(object);
        this.peerAuthentications.set(pa.meta.namespace, pa.meta.name, pa);
        this.setStatus(kind, pa.meta.namespace, pa.meta.name, peerAuthenticationStatus(pa, this.rootNamespace));
        this.peerAuthenticationsChanged(pa.meta.namespace);
        return;
      }
    }
  }

  private remove(id: ObjectIdentity): void {
    const { namespace, name } = id;
    switch (id.kind) {
      case 'Pod': {
        const old = this.pods.get(namespace, name);
        if (old !== undefined) this.dropFromNode(old);
        this.pods.delete(namespace, name);
        this.recomputeWorkload(namespace, name);
        return;
      }
      case 'Service': {
        const old = this.services.get(namespace, name);
        this.services.delete(namespace, name);
        this.serviceChanged(namespace, name, old, undefined);
        return;
      }
      case 'Namespace':
        this.namespaces.delete(name);
        this.recomputeNamespace(name);
        return;
      case 'Gateway':
        this.gateways.delete(namespace, name);
        this.recomputeEverything();
        return;
      case 'AuthorizationPolicy': {
        const old = this.authorizationPolicies.get(namespace, name);
        this.authorizationPolicies.delete(namespace, name);
        this.authorizationsOut.delete(`${namespace}/${name}`);
        this.lastStatus.delete(statusKey(id.kind, namespace, name));
        this.policySelectorChanged(namespace, old?.selector, undefined);
        return;
      }
      case 'PeerAuthentication':
        this.peerAuthentications.delete(namespace, name);
        this.lastStatus.delete(statusKey(id.kind, namespace, name));
        this.peerAuthenticationsChanged(namespace);
        return;
    }
  }

  private putPod(pod: PodView): void {
    const old = this.pods.get(pod.meta.namespace, pod.meta.name);
    if (old !== undefined) this.dropFromNode(old);
    this.pods.set(pod.meta.namespace, pod.meta.name, pod);
    if (pod.nodeName === '') return;
    let onNode = this.podsByNode.get(pod.nodeName);
    if (onNode === undefined) {
      onNode = new Map();
      this.podsByNode.set(pod.nodeName, onNode);
    }
    onNode.set(`${pod.meta.namespace}/${pod.meta.name}`, pod);
  }

  private dropFromNode(pod: PodView): void {
    const onNode = this.podsByNode.get(pod.nodeName);
    if (onNode === undefined) return;
    onNode.delete(`${pod.meta.namespace}/${pod.meta.name}`);
    if (onNode.size === 0) this.podsByNode.delete(pod.nodeName);
  }

  private serviceChanged(namespace: string, name: string, old: ServiceView | undefined, now: ServiceView | undefined): void {
    this.recomputeService(namespace, name);
    for (const pod of this.pods.inNamespace(namespace)) {
      if ((old !== undefined && serviceSelectsPod(old, pod)) || (now !== undefined && serviceSelectsPod(now, pod))) {
        this.recomputeWorkload(namespace, pod.meta.name);
      }
    }
  }

  /** Only selector-scoped policies are referenced from workloads; root-namespace ones from every namespace's. */
  private policySelectorChanged(
    namespace: string,
    old: Readonly<Record<string, string>> | undefined,
    now: Readonly<Record<string, string>> | undefined,
  ): void {
    if (old === undefined && now === undefined) return;
    const pods = namespace === this.rootNamespace ? this.pods.all() : this.pods.inNamespace(namespace);
    for (const pod of [...pods]) {
      const labels = pod.meta.labels;
      if ((old !== undefined && selectorMatches(old, labels)) || (now !== undefined && selectorMatches(now, labels))) {
        this.recomputeWorkload(pod.meta.namespace, pod.meta.name);
      }
    }
  }

  /**
   * Generated Authorizations depend on every PA of a namespace and the mesh's, and there are few PAs, so all are
   * recomputed; then the workloads whose effective mode may have moved.
   */
  private peerAuthenticationsChanged(namespace: string): void {
    const root = this.rootNamespace;
    const wanted = new Map<string, Authorization>();
    if (needsStaticStrict(this.peerAuthentications.all(), root)) {
      wanted.set(`${root}/${STATIC_STRICT_POLICY_NAME}`, staticStrictAuthorization(root));
    }
    for (const pa of this.peerAuthentications.all()) {
      const parents = selectPeerAuthentications(
        this.peerAuthentications.inNamespaces(pa.meta.namespace, root),
        pa.meta.namespace,
        undefined,
        root,
      );
      const converted = convertPeerAuthentication(pa, parents, root);
      if (converted !== undefined) wanted.set(authorizationKey(converted), converted);
    }
    for (const key of this.generatedKeys) if (!wanted.has(key)) this.authorizationsOut.delete(key);
    for (const [key, authz] of wanted) this.authorizationsOut.set(key, authz);
    this.generatedKeys = new Set(wanted.keys());

    const pods = namespace === root ? this.pods.all() : this.pods.inNamespace(namespace);
    for (const pod of [...pods]) this.recomputeWorkload(pod.meta.namespace, pod.meta.name);
  }

  private recomputeNamespace(namespace: string): void {
    for (const pod of [...this.pods.inNamespace(namespace)]) this.recomputeWorkload(namespace, pod.meta.name);
    for (const svc of [...this.services.inNamespace(namespace)]) this.recomputeService(namespace, svc.meta.name);
  }

  private recomputeEverything(): void {
    for (const pod of [...this.pods.all()]) this.recomputeWorkload(pod.meta.namespace, pod.meta.name);
    for (const svc of [...this.services.all()]) this.recomputeService(svc.meta.namespace, svc.meta.name);
  }

  private recomputeWorkload(namespace: string, name: string): void {
    const uid = workloadUid(this.clusterId, namespace, name);
    const pod = this.pods.get(namespace, name);
    const built =
      pod === undefined
        ? {}
        : buildWorkload(pod, {
            clusterId: this.clusterId,
            trustDomain: this.trustDomain,
            namespaceLabels: this.namespaceLabels(namespace),
            services: this.services.inNamespace(namespace),
            gatewayOf: this.gatewayOf,
            authorizationPolicies: this.policyKeysFor(pod),
          });
    if (built.workload === undefined) {
      this.workloadsOut.delete(uid);
      this.reportedProblems.delete(`w:${uid}`);
      return;
    }
    this.workloadsOut.set(uid, built.workload);
    this.noteWaypointProblem(`w:${uid}`, `Pod ${namespace}/${name}`, namespace, built.waypointProblem);
  }

  private recomputeService(namespace: string, name: string): void {
    const key = `${namespace}/${serviceHostname(name, namespace)}`;
    const view = this.services.get(namespace, name);
    if (view === undefined) {
      this.servicesOut.delete(key);
      this.reportedProblems.delete(`s:${key}`);
      return;
    }
    const built = buildService(view, { namespaceLabels: this.namespaceLabels(namespace), gatewayOf: this.gatewayOf });
    this.servicesOut.set(key, built.service);
    this.noteWaypointProblem(`s:${key}`, `Service ${namespace}/${name}`, namespace, built.waypointProblem);
  }

  private noteWaypointProblem(key: string, object: string, namespace: string, problem: WaypointProblem | undefined): void {
    if (problem === undefined) {
      this.reportedProblems.delete(key);
      return;
    }
    const field = problem.onNamespace ? `${problem.field} (on Namespace ${namespace})` : problem.field;
    const message = `${problem.message}; no waypoint is used`;
    if (this.reportedProblems.get(key) === `${field}\n${message}`) return;
    this.reportedProblems.set(key, `${field}\n${message}`);
    this.errors.push({ object, field, message });
  }

  /** Selector-scoped AuthorizationPolicies of the pod's and the root namespace that select it, plus its PA policies. */
  private policyKeysFor(pod: PodView): string[] {
    const { namespace, labels } = pod.meta;
    const keys = new Set<string>();
    for (const ap of this.authorizationPolicies.inNamespaces(namespace, this.rootNamespace)) {
      if (ap.selector === undefined || !selectorMatches(ap.selector, labels)) continue;
      const key = `${ap.meta.namespace}/${ap.meta.name}`;
      if (this.authorizationsOut.get(key)?.scope === 'WORKLOAD_SELECTOR') keys.add(key);
    }
    const pas = selectPeerAuthentications(
      this.peerAuthentications.inNamespaces(namespace, this.rootNamespace),
      namespace,
      labels,
      this.rootNamespace,
    );
    for (const key of peerAuthenticationKeys(pas, this.rootNamespace)) keys.add(key);
    return [...keys].sort();
  }

  private namespaceLabels(namespace: string): Readonly<Record<string, string>> {
    return this.namespaces.get(namespace)?.meta.labels ?? {};
  }

  private readonly gatewayOf = (namespace: string, name: string): GatewayView | undefined => this.gateways.get(namespace, name);

  private setStatus(kind: PolicyKind, namespace: string, name: string, status: PolicyStatus): void {
    const key = statusKey(kind, namespace, name);
    const last = this.lastStatus.get(key);
    if (last !== undefined && JSON.stringify(last) === JSON.stringify(status)) return;
    this.lastStatus.set(key, status);
    this.statusUpdates.push({ kind, namespace, name, status });
  }

  private takeDelta(): ModelDelta {
    const workloads = this.workloadsOut.takeChanges();
    const services = this.servicesOut.takeChanges();
    const authorizations = this.authorizationsOut.takeChanges();
    const delta: ModelDelta = {
      workloads: { upserted: workloads.upserted.map(([, v]) => v), removed: workloads.removed },
      services: { upserted: services.upserted.map(([, v]) => v), removed: services.removed },
      authorizations: { upserted: authorizations.upserted.map(([, v]) => v), removed: authorizations.removed },
      policyStatus: this.statusUpdates,
      errors: this.errors,
    };
    this.errors = [];
    this.statusUpdates = [];
    return delta;
  }
}

function statusKey(kind: PolicyKind, namespace: string, name: string): string {
  return `${kind} ${namespace}/${name}`;
}

function tryIdentity(kind: ModelKind, object: unknown): ObjectIdentity | undefined {
  try {
    return identityOf(kind, object);
  } catch {
    // No name to hang a status on; the parse error itself is still reported.
    return undefined;
  }
}
