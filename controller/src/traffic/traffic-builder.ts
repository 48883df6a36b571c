import { asRecord, describeObject, isRecord, KubeObjectError, kubeObjectReader } from '@ambit/core';
import {
  RETRY_BUDGET_ANNOTATION,
  serviceTrafficKey,
  type RateLimit,
  type RetryBudget,
  type ServiceTraffic,
  type Subset,
} from '@ambit/core/traffic';
import { ChangeTracker } from '../model/change-tracker.ts';
import { DEFAULT_CLUSTER_ID, DEFAULT_TRUST_DOMAIN } from '../model/core-model.ts';
import { addTo, removeFrom } from '../model/key-index.ts';
import {
  parseGateway,
  parseNamespace,
  parsePod,
  parseService,
  type GatewayView,
  type PodView,
  type ServiceView,
} from '../model/kube-objects.ts';
import { selectorMatches } from '../model/labels.ts';
import type { ModelChange, ModelError } from '../model/model-types.ts';
import { NamespacedStore } from '../model/namespaced-store.ts';
import { serviceHostname, serviceSelectsPod } from '../model/service.ts';
import { resolveWaypoint } from '../model/waypoint.ts';
import { workloadUid } from '../model/workload.ts';
import type { Condition, StatusTarget } from '../status/status-writer.ts';
import { AMBIT_VERSION, parseHttpFault, parseLocalRateLimit, type HttpFaultView, type LocalRateLimitView } from './ambit-objects.ts';
import { DESTINATION_RULE_VERSIONS, parseDestinationRule, resolveHost, type DestinationRuleView } from './destination-rule.ts';
import { parseRetryBudget } from './retry-budget.ts';
import {
  acceptedCondition,
  destinationRuleApplied,
  invalidCondition,
  noWaypoint,
  rejectedCondition,
  subsetRoutingNote,
  WAYPOINT_ACCEPTED,
  type FieldProblem,
} from './traffic-status.ts';

export interface TrafficStatusUpdate {
  readonly target: StatusTarget;
  readonly conditions: readonly Condition[];
  readonly generation?: number;
}

export interface TrafficDelta {
  /** xDS-ready: ServiceTraffic whose content changed, and keys (serviceTrafficKey) of Services that no longer have any. */
  readonly traffic: { readonly upserted: readonly ServiceTraffic[]; readonly removed: readonly string[] };
  readonly status: readonly TrafficStatusUpdate[];
  /** Objects deleted in this apply: their status is no longer wanted. */
  readonly deleted: readonly StatusTarget[];
  /** Objects (or parts) that did not read: counted and logged at debug, as the model's errors. */
  readonly errors: readonly ModelError[];
  /** Problems an operator must see that have no status to go to (a bad Service annotation): logged at warn. */
  readonly warnings: readonly ModelError[];
}

export interface TrafficOptions {
  /** Trust domain of client identities in rate-limit overrides; default `cluster.local`. */
  readonly trustDomain?: string;
  /** Cluster id in workload uids (subsets); default `Kubernetes`, as the model's. */
  readonly clusterId?: string;
}

type PolicyKind = 'DestinationRule' | 'LocalRateLimit' | 'HTTPFault';

/** One policy object: its last good view (what is in force) and the problem of its latest version, if any. */
interface PolicyRecord<V> {
  readonly kind: PolicyKind;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  /** Istio's tie-break between conflicting objects: oldest first (creationTimestamp, then namespace/name). */
  readonly created: string;
  readonly good?: V;
  readonly problem?: FieldProblem;
}

const PLURALS: Readonly<Record<PolicyKind, string>> = {
  DestinationRule: 'destinationrules',
  LocalRateLimit: 'localratelimits',
  HTTPFault: 'httpfaults',
};

/**
 * DestinationRules, `ambit.dev/retry-budget` annotations and LocalRateLimits in, one ServiceTraffic per Service out
 * (contract 2), with the status of each policy object. Only Services an event can change are rebuilt:
 * - a DestinationRule or LocalRateLimit change rebuilds the Services its old and new version target;
 * - a Service change rebuilds that Service (annotation, existence, waypoint label);
 * - a Pod change rebuilds the Services of its namespace that have a DestinationRule (subsets are pod labels);
 * - a Namespace or Gateway change rebuilds the Services with a policy whose waypoint it may change.
 * An object whose latest version does not read keeps its last good version in force; its status names the field.
 */
export class TrafficBuilder {
  private readonly trustDomain: string;
  private readonly clusterId: string;

  private readonly services = new NamespacedStore<ServiceView>();
  private readonly pods = new NamespacedStore<PodView>();
  private readonly gateways = new NamespacedStore<GatewayView>();
  private readonly namespaceLabels = new Map<string, Readonly<Record<string, string>>>();
  private readonly rules = new Map<string, PolicyRecord<DestinationRuleView>>();
  private readonly limits = new Map<string, PolicyRecord<LocalRateLimitView>>();
  private readonly faults = new Map<string, PolicyRecord<HttpFaultView>>();
  /** `ns/name` of a Service → keys of the DestinationRules / LocalRateLimits that (by their last good version) target it. */
  private readonly rulesByService = new Map<string, Set<string>>();
  private readonly limitsByService = new Map<string, Set<string>>();

  private readonly out = new ChangeTracker<ServiceTraffic>();
  private readonly dirty = new Set<string>();
  /** Status last emitted per object (`Kind/ns/name`), so a rebuild that changes nothing emits nothing. */
  private readonly lastStatus = new Map<string, string>();
  /** Objects whose own event arrived in this apply: their status is offered again even if unchanged. */
  private readonly touched = new Set<string>();
  /** The retry-budget problem last reported per Service, so one bad annotation is warned about once. */
  private readonly budgetProblems = new Map<string, string>();

  private status: TrafficStatusUpdate[] = [];
  private deleted: StatusTarget[] = [];
  private errors: ModelError[] = [];
  private warnings: ModelError[] = [];

  constructor(options: TrafficOptions = {}) {
    this.trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.clusterId = options.clusterId ?? DEFAULT_CLUSTER_ID;
  }

  apply(change: ModelChange): TrafficDelta {
    try {
      this.dispatch(change);
    } catch (err) {
      if (!(err instanceof KubeObjectError)) throw err;
      // A Pod, Service, Namespace or Gateway that does not read is the model's to report (and count), not ours again.
      const kind = asRecord(change.object)['kind'];
      if (kind === 'DestinationRule' || kind === 'LocalRateLimit' || kind === 'HTTPFault') {
        this.errors.push({ object: err.object, field: err.field, message: err.message });
      }
    }
    for (const key of this.dirty) this.rebuild(key);
    this.dirty.clear();
    this.touched.clear();
    const changes = this.out.takeChanges();
    const delta: TrafficDelta = {
      traffic: { upserted: changes.upserted.map(([, v]) => v), removed: changes.removed },
      status: this.status,
      deleted: this.deleted,
      errors: this.errors,
      warnings: this.warnings,
    };
    this.status = [];
    this.deleted = [];
    this.errors = [];
    this.warnings = [];
    return delta;
  }

  /** Every current ServiceTraffic, sorted by key (debug dumps, tests). */
  snapshot(): ServiceTraffic[] {
    return this.out.sortedValues();
  }

  private dispatch(change: ModelChange): void {
    if (!isRecord(change.object)) return;
    const r = kubeObjectReader(describeObject(change.object));
    const apiVersion = r.name(change.object['apiVersion'], 'apiVersion');
    const kind = r.name(change.object['kind'], 'kind');
    const meta = r.record(change.object['metadata'], 'metadata');
    const upsert = change.type === 'upsert';
    if (apiVersion === 'v1' && kind === 'Namespace') {
      const name = r.name(meta['name'], 'metadata.name');
      const labels = upsert ? parseNamespace(change.object).meta.labels : {};
      if (JSON.stringify(this.namespaceLabels.get(name) ?? {}) === JSON.stringify(labels)) return;
      if (upsert) this.namespaceLabels.set(name, labels);
      else this.namespaceLabels.delete(name);
      this.markPolicyServices((ns) => ns === name);
      return;
    }
    const namespace = r.name(meta['namespace'], 'metadata.namespace');
    const name = r.name(meta['name'], 'metadata.name');
    if (apiVersion === 'v1' && kind === 'Service') {
      if (upsert) this.services.set(namespace, name, parseService(change.object));
      else this.services.delete(namespace, name);
      this.dirty.add(`${namespace}/${name}`);
    } else if (apiVersion === 'v1' && kind === 'Pod') {
      if (upsert) this.pods.set(namespace, name, parsePod(change.object));
      else this.pods.delete(namespace, name);
      for (const key of this.rulesByService.keys()) if (key.startsWith(`${namespace}/`)) this.dirty.add(key);
    } else if (
      kind === 'Gateway' &&
      (apiVersion === 'gateway.networking.k8s.io/v1' || apiVersion === 'gateway.networking.k8s.io/v1beta1')
    ) {
      if (upsert) this.gateways.set(namespace, name, parseGateway(change.object));
      else this.gateways.delete(namespace, name);
      // `istio.io/use-waypoint-namespace` can point at a Gateway from any namespace.
      this.markPolicyServices(() => true);
    } else if (kind === 'DestinationRule' && DESTINATION_RULE_VERSIONS.includes(apiVersion)) {
      this.putPolicy(this.rules, this.rulesByService, 'DestinationRule', change, parseDestinationRule, (v) => {
        const t = resolveHost(v.host, v.meta.namespace);
        return t.kind === 'service' ? `${t.namespace}/${t.name}` : undefined;
      });
    } else if (kind === 'LocalRateLimit' && apiVersion === AMBIT_VERSION) {
      this.putPolicy(
        this.limits,
        this.limitsByService,
        'LocalRateLimit',
        change,
        parseLocalRateLimit,
        (v) => `${v.meta.namespace}/${v.target}`,
      );
    } else if (kind === 'HTTPFault' && apiVersion === AMBIT_VERSION) {
      this.putPolicy(this.faults, undefined, 'HTTPFault', change, parseHttpFault, () => undefined);
    }
  }

  private markPolicyServices(namespaceMatches: (ns: string) => boolean): void {
    for (const index of [this.rulesByService, this.limitsByService]) {
      for (const key of index.keys()) if (namespaceMatches(key.slice(0, key.indexOf('/')))) this.dirty.add(key);
    }
  }

  /**
   * Stores a policy object's new version (or its removal): a version that reads replaces the good one; one that does
   * not keeps the good one and records the problem. The Services of the old and new good versions are rebuilt (their
   * rebuild writes these objects' status); an object that targets no Service gets its status here.
   */
  private putPolicy<V extends { readonly meta: { readonly namespace: string; readonly name: string } }>(
    records: Map<string, PolicyRecord<V>>,
    index: Map<string, Set<string>> | undefined,
    kind: PolicyKind,
    change: ModelChange,
    parse: (value: unknown) => V,
    targetOf: (view: V) => string | undefined,
  ): void {
    const o = asRecord(change.object);
    const meta = asRecord(o['metadata']);
    const namespace = String(meta['namespace']);
    const name = String(meta['name']);
    const key = `${namespace}/${name}`;
    const old = records.get(key);
    const oldTarget = old?.good === undefined ? undefined : targetOf(old.good);
    if (oldTarget !== undefined) this.dirty.add(oldTarget);
    const statusKey = `${kind}/${key}`;
    if (change.type === 'delete') {
      if (old === undefined) return;
      records.delete(key);
      if (index !== undefined && oldTarget !== undefined) removeFrom(index, oldTarget, key);
      this.lastStatus.delete(statusKey);
      this.deleted.push(this.targetOf(old));
      return;
    }
    const generation = typeof meta['generation'] === 'number' ? meta['generation'] : undefined;
    const base = {
      kind,
      apiVersion: String(o['apiVersion']),
      namespace,
      name,
      created: typeof meta['creationTimestamp'] === 'string' ? meta['creationTimestamp'] : '',
      ...(generation === undefined ? {} : { generation }),
    };
    let rec: PolicyRecord<V>;
    try {
      rec = { ...base, good: parse(change.object) };
    } catch (err) {
      if (!(err instanceof KubeObjectError)) throw err;
      this.errors.push({ object: err.object, field: err.field, message: err.message });
      rec = { ...base, ...(old?.good === undefined ? {} : { good: old.good }), problem: { field: err.field, message: err.problem } };
    }
    records.set(key, rec);
    const target = rec.good === undefined ? undefined : targetOf(rec.good);
    if (index !== undefined) {
      if (oldTarget !== undefined) removeFrom(index, oldTarget, key);
      if (target !== undefined) addTo(index, target, key);
    }
    this.touched.add(statusKey);
    if (target !== undefined) this.dirty.add(target);
    else this.emit(rec, this.untargetedCondition(rec));
  }

  /** The status of an object that targets no Service: a fault filter, a bad first version, or a host that is no Service. */
  private untargetedCondition(rec: PolicyRecord<unknown>): Condition {
    const type = rec.kind === 'DestinationRule' ? WAYPOINT_ACCEPTED : 'Accepted';
    if (rec.problem !== undefined) return invalidCondition(type, rec.problem, rec.good !== undefined);
    if (rec.kind === 'DestinationRule') {
      const view = rec.good as DestinationRuleView;
      const t = resolveHost(view.host, view.meta.namespace);
      return rejectedCondition(
        type,
        t.kind === 'unsupported' && t.message.includes('wildcard') ? 'UnsupportedValue' : 'TargetNotFound',
        t.kind === 'unsupported' ? t.message : '',
      );
    }
    return acceptedCondition('applied by the waypoints of the routes that reference it');
  }

  private rebuild(serviceKey: string): void {
    const slash = serviceKey.indexOf('/');
    const namespace = serviceKey.slice(0, slash);
    const name = serviceKey.slice(slash + 1);
    const svc = this.services.get(namespace, name);
    const hostname = serviceHostname(name, namespace);
    const waypoint = svc === undefined ? undefined : this.waypointOf(svc);

    const rules = this.ordered(this.rules, this.rulesByService.get(serviceKey), namespace);
    const winner = rules[0];
    rules.forEach((rec, i) => {
      const view = rec.good as DestinationRuleView;
      let condition: Condition;
      if (rec.problem !== undefined) condition = invalidCondition(WAYPOINT_ACCEPTED, rec.problem, true);
      else if (svc === undefined)
        condition = rejectedCondition(WAYPOINT_ACCEPTED, 'TargetNotFound', `host ${view.host}: Service ${serviceKey} not found`);
      else if (waypoint === undefined) condition = noWaypoint(WAYPOINT_ACCEPTED, view.host, 'DestinationRule traffic policy');
      else if (i > 0 && winner !== undefined) {
        condition = rejectedCondition(
          WAYPOINT_ACCEPTED,
          'Conflicted',
          `DestinationRule ${winner.namespace}/${winner.name} also names ${hostname} and takes precedence (the one in the Service's namespace, oldest first); this one is not applied`,
        );
      } else {
        const notes = view.subsets.filter((s) => s.trafficPolicy === undefined).map((s) => subsetRoutingNote(s.name));
        condition = destinationRuleApplied(waypoint, hostname, view.ignored, notes);
      }
      this.emit(rec, condition);
    });

    const limits = this.ordered(this.limits, this.limitsByService.get(serviceKey), namespace);
    const limitWinner = limits[0];
    limits.forEach((rec, i) => {
      let condition: Condition;
      if (rec.problem !== undefined) condition = invalidCondition('Accepted', rec.problem, true);
      else if (svc === undefined)
        condition = rejectedCondition('Accepted', 'TargetNotFound', `spec.targetRef: Service ${serviceKey} not found`);
      else if (i > 0 && limitWinner !== undefined) {
        condition = rejectedCondition(
          'Accepted',
          'Conflicted',
          `LocalRateLimit ${limitWinner.namespace}/${limitWinner.name} also targets Service ${name} and is older; this one is not applied`,
        );
      } else if (waypoint === undefined) condition = noWaypoint('Accepted', hostname, 'a LocalRateLimit');
      else condition = acceptedCondition(`enforced by waypoint ${waypoint} for ${hostname}, per waypoint replica`);
      this.emit(rec, condition);
    });

    if (svc === undefined) this.budgetProblems.delete(serviceKey);
    const traffic = svc === undefined ? undefined : this.assemble(svc, winner?.good as DestinationRuleView | undefined, limitWinner);
    const outKey = serviceTrafficKey({ namespace, hostname });
    if (traffic === undefined) this.out.delete(outKey);
    else this.out.set(outKey, traffic);
  }

  /** What one Service's waypoints get; undefined when nothing configures it. */
  private assemble(
    svc: ServiceView,
    rule: DestinationRuleView | undefined,
    limit: PolicyRecord<LocalRateLimitView> | undefined,
  ): ServiceTraffic | undefined {
    const { namespace, name } = svc.meta;
    const annotation = svc.meta.annotations[RETRY_BUDGET_ANNOTATION];
    const serviceKey = `${namespace}/${name}`;
    let retryBudget: RetryBudget | undefined;
    if (annotation !== undefined) {
      const parsed = parseRetryBudget(annotation);
      if (parsed.problem !== undefined) {
        if (this.budgetProblems.get(serviceKey) !== parsed.problem) {
          this.warnings.push({
            object: `Service ${serviceKey}`,
            field: `metadata.annotations[${RETRY_BUDGET_ANNOTATION}]`,
            message: `${parsed.problem}; the default retry budget applies`,
          });
        }
        this.budgetProblems.set(serviceKey, parsed.problem);
      } else {
        this.budgetProblems.delete(serviceKey);
        retryBudget = parsed.budget;
      }
    } else {
      this.budgetProblems.delete(serviceKey);
    }
    const rateLimit = limit?.good === undefined ? undefined : this.rateLimit(limit.good);
    if (rule === undefined && annotation === undefined && rateLimit === undefined) return undefined;
    return {
      service: { namespace, hostname: serviceHostname(name, namespace) },
      subsets: rule === undefined ? [] : rule.subsets.map((s) => this.subset(svc, s)),
      ...(rule === undefined ? {} : { destinationRule: `${rule.meta.namespace}/${rule.meta.name}` }),
      ...(rule?.trafficPolicy === undefined ? {} : { trafficPolicy: rule.trafficPolicy }),
      ...(retryBudget === undefined ? {} : { retryBudget }),
      ...(rateLimit === undefined ? {} : { rateLimit }),
    };
  }

  /** A subset's workloads: the Service's pods that are workloads (have an IP, not finished) and carry its labels. */
  private subset(svc: ServiceView, s: DestinationRuleView['subsets'][number]): Subset {
    const workloads: string[] = [];
    for (const pod of this.pods.inNamespace(svc.meta.namespace)) {
      if (pod.ips.length === 0 || pod.phase === 'Succeeded' || pod.phase === 'Failed') continue;
      if (serviceSelectsPod(svc, pod) && selectorMatches(s.labels, pod.meta.labels)) {
        workloads.push(workloadUid(this.clusterId, pod.meta.namespace, pod.meta.name));
      }
    }
    workloads.sort();
    return { name: s.name, workloads, ...(s.trafficPolicy === undefined ? {} : { trafficPolicy: s.trafficPolicy }) };
  }

  private rateLimit(v: LocalRateLimitView): RateLimit {
    return {
      policy: `${v.meta.namespace}/${v.meta.name}`,
      overrides: v.overrides.map((o) => ({
        bucket: o.bucket,
        identities: o.clientRefs.map((c) => `spiffe://${this.trustDomain}/ns/${c.namespace}/sa/${c.name}`),
      })),
      ...(v.total === undefined ? {} : { total: v.total }),
      ...(v.identity === undefined ? {} : { perIdentity: v.identity }),
    };
  }

  /** `namespace/name` of the waypoint Gateway that serves the Service's traffic, if any (Istio's enrolment rule). */
  private waypointOf(svc: ServiceView): string | undefined {
    const { namespace, labels, name } = svc.meta;
    const result = resolveWaypoint(
      { namespace, labels, namespaceLabels: this.namespaceLabels.get(namespace) ?? {}, traffic: 'service', ownGateway: name },
      (ns, gw) => this.gateways.get(ns, gw),
    );
    const d = result.waypoint?.destination;
    return d?.kind === 'hostname' ? `${d.namespace}/${d.hostname.slice(0, d.hostname.indexOf('.'))}` : undefined;
  }

  /** The records of `keys` that are in force, in precedence order: the Service's namespace first, then oldest, then by name. */
  private ordered<V>(
    records: Map<string, PolicyRecord<V>>,
    keys: Iterable<string> | undefined,
    serviceNamespace: string,
  ): Array<PolicyRecord<V>> {
    const recs = [...(keys ?? [])].flatMap((k) => records.get(k) ?? []).filter((r) => r.good !== undefined);
    const created = (r: PolicyRecord<V>): number => {
      const ms = Date.parse(r.created);
      return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
    };
    return recs.sort(
      (a, b) =>
        Number(a.namespace !== serviceNamespace) - Number(b.namespace !== serviceNamespace) ||
        created(a) - created(b) ||
        (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1),
    );
  }

  private emit(rec: PolicyRecord<unknown>, condition: Condition): void {
    const statusKey = `${rec.kind}/${rec.namespace}/${rec.name}`;
    const json = JSON.stringify([condition, rec.generation]);
    if (this.lastStatus.get(statusKey) === json && !this.touched.has(statusKey)) return;
    this.lastStatus.set(statusKey, json);
    this.touched.delete(statusKey);
    this.status.push({
      target: this.targetOf(rec),
      conditions: [condition],
      ...(rec.generation === undefined ? {} : { generation: rec.generation }),
    });
  }

  private targetOf(rec: PolicyRecord<unknown>): StatusTarget {
    return { apiVersion: rec.apiVersion, plural: PLURALS[rec.kind], namespace: rec.namespace, name: rec.name };
  }
}
