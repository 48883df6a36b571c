import { describeObject, isRecord, KubeObjectError, kubeObjectReader, type Service } from '@ambit/core';
import { l7AuthorizationKey, type L7Authorization, type L7Target } from '@ambit/core/policy';
import { ChangeTracker } from '../model/change-tracker.ts';
import { parseGateway, type GatewayView } from '../model/kube-objects.ts';
import { convertL7Rules, type L7Conversion } from '../model/l7-authorization.ts';
import { WAYPOINT_GATEWAY_CLASS } from '../model/labels.ts';
import type { ModelChange, ModelError } from '../model/model-types.ts';
import { NamespacedStore } from '../model/namespaced-store.ts';
import { parseAuthorizationPolicy, type AuthorizationPolicyView, type PolicyTargetRefView } from '../model/security-objects.ts';
import { serviceHostname } from '../model/service.ts';
import type { Condition } from '../status/status-writer.ts';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
const SECURITY_API_VERSIONS = new Set(['security.istio.io/v1', 'security.istio.io/v1beta1']);
const GATEWAY_API_VERSIONS = new Set([`${GATEWAY_GROUP}/v1`, `${GATEWAY_GROUP}/v1beta1`]);

/** The `WaypointAccepted` condition of one targetRefs policy (contract 5). */
export interface L7StatusUpdate {
  readonly namespace: string;
  readonly name: string;
  readonly generation?: number;
  readonly condition: Condition;
}

export interface L7Delta {
  /** xDS-ready: policies whose content changed, and keys (l7AuthorizationKey) of those no longer published. */
  readonly policies: { readonly upserted: readonly L7Authorization[]; readonly removed: readonly string[] };
  readonly status: readonly L7StatusUpdate[];
  readonly errors: readonly ModelError[];
}

/** What the model's Services say (from its deltas): enough to resolve a Service target and name its waypoint. */
export interface ServiceChanges {
  readonly upserted: readonly Service[];
  /** serviceKey: `namespace/hostname`. */
  readonly removed: readonly string[];
}

interface PolicyRecord {
  readonly view: AuthorizationPolicyView;
  readonly conversion: L7Conversion | undefined;
  /** Index keys (`Gateway/ns/name`, `Service/ns/hostname`) of its targetRefs. */
  readonly refKeys: readonly string[];
  /** Set while a newer version of the object is invalid: its status, which re-evaluations must not overwrite. */
  readonly invalid?: L7StatusUpdate;
}

/**
 * AuthorizationPolicies with targetRefs in, L7Authorizations (one per policy, for every waypoint; each waypoint keeps
 * those that target it or a Service it serves) and `WaypointAccepted` conditions out. Targets are resolved here:
 * - kind Gateway (group gateway.networking.k8s.io): a Gateway of class istio-waypoint in the policy's namespace;
 * - kind Service (core group): a Service in the policy's namespace, by its cluster hostname;
 * anything else is not enforced and said so. A policy is re-evaluated when it changes and when a Gateway or Service it
 * targets appears, changes or goes; until one of its targets exists it is not published (TargetNotFound).
 * A policy whose values do not parse (a bad CIDR or port) keeps its last good version published, and its status names
 * the field; so does a policy that does not parse at all, when it had a good version. Policies without targetRefs are
 * the L4 model's (ztunnel); this builder forgets them, and never writes their status.
 */
export class L7AuthorizationBuilder {
  private readonly policies = new NamespacedStore<PolicyRecord>();
  private readonly gateways = new NamespacedStore<GatewayView>();
  /** serviceKey (`ns/hostname`) → Service, as the model last published it. */
  private readonly services = new Map<string, Service>();
  /** Target index key → policy keys (`ns/name`) naming it. */
  private readonly byTarget = new Map<string, Set<string>>();
  private readonly out = new ChangeTracker<L7Authorization>();
  private status: L7StatusUpdate[] = [];
  private errors: ModelError[] = [];

  /** One watch event, plus the model's Service changes of the same event (computed first). */
  apply(change: ModelChange, services: ServiceChanges = { upserted: [], removed: [] }): L7Delta {
    const dirty = new Set<string>();
    for (const key of services.removed) {
      this.services.delete(key);
      for (const p of this.byTarget.get(`Service/${key}`) ?? []) dirty.add(p);
    }
    for (const s of services.upserted) {
      const key = `${s.namespace}/${s.hostname}`;
      this.services.set(key, s);
      for (const p of this.byTarget.get(`Service/${key}`) ?? []) dirty.add(p);
    }
    try {
      this.dispatch(change, dirty);
    } catch (err) {
      if (!(err instanceof KubeObjectError)) throw err;
      this.errors.push({ object: err.object, field: err.field, message: err.message });
    }
    for (const key of dirty) this.evaluate(key);
    const changes = this.out.takeChanges();
    const delta: L7Delta = {
      policies: { upserted: changes.upserted.map(([, p]) => p), removed: changes.removed },
      status: this.status,
      errors: this.errors,
    };
    this.status = [];
    this.errors = [];
    return delta;
  }

  /** Every published policy, sorted by key (debug model, tests). */
  snapshot(): L7Authorization[] {
    return this.out.sortedValues();
  }

  private dispatch(change: ModelChange, dirty: Set<string>): void {
    const o = change.object;
    if (!isRecord(o)) return;
    const apiVersion = typeof o['apiVersion'] === 'string' ? o['apiVersion'] : '';
    const kind = o['kind'];
    if (kind === 'Gateway' && GATEWAY_API_VERSIONS.has(apiVersion)) {
      const { namespace, name } = objectName(o);
      if (change.type === 'delete') this.gateways.delete(namespace, name);
      else {
        const gw = parseGatewayOrUndefined(o);
        // One that does not parse keeps its last good version (the model reports it).
        if (gw === undefined) return;
        this.gateways.set(namespace, name, gw);
      }
      for (const p of this.byTarget.get(`Gateway/${namespace}/${name}`) ?? []) dirty.add(p);
      return;
    }
    if (kind !== 'AuthorizationPolicy' || !SECURITY_API_VERSIONS.has(apiVersion)) return;
    const { namespace, name } = objectName(o);
    const key = `${namespace}/${name}`;
    if (change.type === 'delete') {
      this.forget(namespace, name);
      this.out.delete(key);
      return;
    }
    let view: AuthorizationPolicyView;
    try {
      view = parseAuthorizationPolicy(o);
    } catch (err) {
      if (!(err instanceof KubeObjectError)) throw err;
      // The model reports an object that does not parse (and counts it); only a policy that was ours gets a waypoint
      // status saying so.
      this.markInvalid(namespace, name, { namespace, name, condition: invalid(err, this.out.get(key) !== undefined) });
      return;
    }
    if (!view.hasTargetRefs) {
      // Now a ztunnel policy (or never ours): its status is the model's to write.
      this.forget(namespace, name);
      this.out.delete(key);
      return;
    }
    let conversion: L7Conversion | undefined;
    try {
      const result = convertL7Rules(view);
      conversion = 'unsupportedAction' in result ? undefined : result;
      if ('unsupportedAction' in result) {
        this.status.push(
          statusOf(view, 'False', 'UnsupportedValue', `the waypoint does not support the ${result.unsupportedAction} action`),
        );
      }
    } catch (err) {
      if (!(err instanceof KubeObjectError)) throw err;
      // The last good version stays published (and indexed) until this one is fixed.
      const update = { ...statusOf(view, 'False', 'Invalid', ''), condition: invalid(err, this.out.get(key) !== undefined) };
      if (this.policies.get(namespace, name) === undefined) this.status.push(update);
      else this.markInvalid(namespace, name, update);
      throw err;
    }
    this.forget(namespace, name);
    const refKeys = view.targetRefs.flatMap((t) => targetKey(t, namespace) ?? []);
    this.policies.set(namespace, name, { view, conversion, refKeys });
    for (const k of refKeys) addTo(this.byTarget, k, key);
    dirty.add(key);
  }

  /** A new version of a policy we hold is invalid: say so now and at every re-evaluation, keep the last good one. */
  private markInvalid(namespace: string, name: string, update: L7StatusUpdate): void {
    const old = this.policies.get(namespace, name);
    if (old === undefined) return;
    this.policies.set(namespace, name, { ...old, invalid: update });
    this.status.push(update);
  }

  private forget(namespace: string, name: string): void {
    const old = this.policies.get(namespace, name);
    if (old === undefined) return;
    for (const k of old.refKeys) removeFrom(this.byTarget, k, `${namespace}/${name}`);
    this.policies.delete(namespace, name);
  }

  /** Resolves one policy's targets and (re)publishes or withdraws it, with its status. */
  private evaluate(key: string): void {
    const slash = key.indexOf('/');
    const rec = this.policies.get(key.slice(0, slash), key.slice(slash + 1));
    if (rec === undefined) return;
    const { view, conversion } = rec;
    const push = (u: L7StatusUpdate): void => {
      this.status.push(rec.invalid ?? u);
    };
    if (conversion === undefined) {
      // Unsupported action: nothing to enforce (its status was written when it arrived).
      this.out.delete(key);
      return;
    }
    const targets: L7Target[] = [];
    const enforcedBy: string[] = [];
    const missing: string[] = [];
    const unsupported: string[] = [];
    for (const ref of view.targetRefs) {
      const r = this.resolve(ref, view.meta.namespace);
      if (r.kind === 'target') {
        targets.push(r.target);
        enforcedBy.push(r.enforcedBy);
      } else (r.kind === 'missing' ? missing : unsupported).push(r.message);
    }
    const problems = [...unsupported, ...missing];
    if (targets.length === 0) {
      this.out.delete(key);
      const reason = missing.length > 0 ? 'TargetNotFound' : 'UnsupportedValue';
      push(statusOf(view, 'False', reason, `not enforced: ${problems.join('; ')}`));
      return;
    }
    const policy: L7Authorization = {
      name: view.meta.name,
      namespace: view.meta.namespace,
      action: conversion.action,
      dryRun: conversion.dryRun,
      targets,
      rules: [...conversion.rules],
    };
    this.out.set(l7AuthorizationKey(policy), policy);
    const parts = [`enforced by ${enforcedBy.join('; ')}${conversion.dryRun ? ' (dry run: logged, not enforced)' : ''}.`];
    if (problems.length > 0) parts.push(`Not enforced for: ${problems.join('; ')}.`);
    if (conversion.ignored.length > 0) {
      parts.push(
        `The waypoint does not support ${conversion.ignored.join(', ')} (requestPrincipals need RequestAuthentication, which is not ` +
          `implemented; other when keys are not evaluated). ${
            conversion.action === 'ALLOW'
              ? 'Within an ALLOW policy the rules using them are omitted. This will be more restrictive than requested.'
              : 'Within a DENY policy the rules are enforced without them. This will be more restrictive than requested.'
          }`,
      );
    }
    parts.push(...conversion.notes);
    const reason =
      missing.length > 0 ? 'TargetNotFound' : unsupported.length > 0 || conversion.ignored.length > 0 ? 'UnsupportedValue' : 'Accepted';
    push(statusOf(view, 'True', reason, parts.join(' ')));
  }

  private resolve(
    ref: PolicyTargetRefView,
    policyNamespace: string,
  ): { kind: 'target'; target: L7Target; enforcedBy: string } | { kind: 'missing' | 'unsupported'; message: string } {
    const namespace = ref.namespace ?? policyNamespace;
    const label = `${ref.field} (${ref.kind} ${namespace}/${ref.name})`;
    if (namespace !== policyNamespace) return { kind: 'unsupported', message: `${label}: a target must be in the policy's namespace` };
    if (ref.kind === 'Gateway' && ref.group === GATEWAY_GROUP) {
      const gw = this.gateways.get(namespace, ref.name);
      if (gw === undefined) return { kind: 'missing', message: `${label}: Gateway not found` };
      if (gw.gatewayClassName !== WAYPOINT_GATEWAY_CLASS) {
        return {
          kind: 'unsupported',
          message: `${label}: not a waypoint (gatewayClassName ${gw.gatewayClassName}, not ${WAYPOINT_GATEWAY_CLASS})`,
        };
      }
      return { kind: 'target', target: { kind: 'Gateway', namespace, name: ref.name }, enforcedBy: `waypoint ${namespace}/${ref.name}` };
    }
    if (ref.kind === 'Service' && ref.group === '') {
      const hostname = serviceHostname(ref.name, namespace);
      const service = this.services.get(`${namespace}/${hostname}`);
      if (service === undefined) return { kind: 'missing', message: `${label}: Service not found` };
      const target: L7Target = { kind: 'Service', namespace, hostname };
      const wp = service.waypoint?.destination;
      if (wp === undefined) {
        return {
          kind: 'target',
          target,
          enforcedBy: `the waypoint of Service ${namespace}/${ref.name} (none now: it is not bound to a waypoint)`,
        };
      }
      const wpName = wp.kind === 'hostname' ? `${wp.namespace}/${wp.hostname.split('.')[0] ?? wp.hostname}` : wp.address;
      return { kind: 'target', target, enforcedBy: `waypoint ${wpName} for Service ${namespace}/${ref.name}` };
    }
    const group = ref.group === '' ? 'core' : ref.group;
    if (ref.kind === 'Gateway')
      return { kind: 'unsupported', message: `${label}: a Gateway target needs group ${GATEWAY_GROUP}, not ${group}` };
    return {
      kind: 'unsupported',
      message: `${label}: kind ${ref.kind} of group ${group} is not supported (use a waypoint Gateway or a Service)`,
    };
  }
}

function parseGatewayOrUndefined(o: Record<string, unknown>): GatewayView | undefined {
  try {
    return parseGateway(o);
  } catch (err) {
    if (err instanceof KubeObjectError) return undefined;
    throw err;
  }
}

function objectName(o: Record<string, unknown>): { namespace: string; name: string } {
  const r = kubeObjectReader(describeObject(o));
  const meta = r.record(o['metadata'], 'metadata');
  return { namespace: r.name(meta['namespace'], 'metadata.namespace'), name: r.name(meta['name'], 'metadata.name') };
}

/** The index key of a target ref, for the kinds that can resolve; undefined for the others. */
function targetKey(ref: PolicyTargetRefView, policyNamespace: string): string | undefined {
  const namespace = ref.namespace ?? policyNamespace;
  if (ref.kind === 'Gateway' && ref.group === GATEWAY_GROUP) return `Gateway/${namespace}/${ref.name}`;
  if (ref.kind === 'Service' && ref.group === '') return `Service/${namespace}/${serviceHostname(ref.name, namespace)}`;
  return undefined;
}

function statusOf(view: AuthorizationPolicyView, status: 'True' | 'False', reason: string, message: string): L7StatusUpdate {
  const { namespace, name } = view.meta;
  return {
    namespace,
    name,
    ...(view.generation === undefined ? {} : { generation: view.generation }),
    condition: { type: 'WaypointAccepted', status, reason, message },
  };
}

function invalid(err: KubeObjectError, keptLastGood: boolean): Condition {
  return {
    type: 'WaypointAccepted',
    status: 'False',
    reason: 'Invalid',
    message: `${err.field}: ${err.problem}${keptLastGood ? '; the last valid version stays enforced' : ''}`,
  };
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (set === undefined) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}
