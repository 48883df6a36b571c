import type { Logger } from '@ambit/core';
import { asRecord, createBackoff, errorMessage, systemClock, type BackoffOptions, type Clock, type ClockTimer } from '@ambit/core';
import { KubeApiError, type KubeClient } from '@ambit/core/kube';
import { GATEWAY_NAME_LABEL, WAYPOINT_GATEWAY_CLASS } from '../model/labels.ts';
import {
  GATEWAY_API_VERSION,
  MANAGED_LABEL,
  MANAGED_VALUE,
  parseWaypointGateway,
  WAYPOINT_CONTROLLER_NAME,
  type WaypointGateway,
} from './waypoint-gateway.ts';
import { isSubset, renderWaypoint, type KubeJson, type WaypointDeployOptions } from './waypoint-render.ts';

export interface WaypointDeployerOptions {
  readonly client: KubeClient;
  readonly deploy: WaypointDeployOptions;
  /** Only the Lease leader writes; the others keep the desired state and catch up at `resync()`. */
  readonly isLeader: () => boolean;
  readonly log: Logger;
  /**
   * Told, per Gateway (`ns/name`), what keeps its objects from being written (a same-named object that is not its
   * own), and `undefined` once nothing does; the Gateway's status shows it.
   */
  readonly onProblem?: (gatewayKey: string, message: string | undefined) => void;
  /** Delays between retries of a failed reconcile; default 200 ms doubling to 30 s. */
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
}

/** The queue key of the GatewayClass; cannot clash with `ns/name`. */
const CLASS_KEY = '#gatewayclass';
const CLASS_PATH = `/apis/${GATEWAY_API_VERSION}/gatewayclasses/${WAYPOINT_GATEWAY_CLASS}`;

interface Owned {
  readonly kind: string;
  readonly collection: (namespace: string) => string;
}
// Creation order: the pods need their ServiceAccount, and the Service exists before pods so endpoints follow at once.
const OWNED: readonly Owned[] = [
  { kind: 'ServiceAccount', collection: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts` },
  { kind: 'Service', collection: (ns) => `/api/v1/namespaces/${ns}/services` },
  { kind: 'Deployment', collection: (ns) => `/apis/apps/v1/namespaces/${ns}/deployments` },
];

/** True when `obj` has a controller reference to a Gateway of this name (any UID: a re-created Gateway takes its objects back). */
function controlledByGateway(obj: KubeJson, name: string): boolean {
  const refs = asRecord(obj['metadata'])['ownerReferences'];
  return (
    Array.isArray(refs) &&
    refs.some((r) => {
      const ref = asRecord(r);
      return (
        ref['kind'] === 'Gateway' &&
        String(ref['apiVersion']).startsWith('gateway.networking.k8s.io/') &&
        ref['name'] === name &&
        ref['controller'] === true
      );
    })
  );
}

/** What the drift check compares and a repair patches: our metadata and the spec, without the scalable `replicas`. */
function managedFields(obj: KubeJson): KubeJson {
  const meta = asRecord(obj['metadata']);
  const { replicas: _scalable, ...spec } = asRecord(obj['spec']);
  return {
    metadata: { labels: meta['labels'], annotations: meta['annotations'], ownerReferences: meta['ownerReferences'] },
    ...(obj['spec'] === undefined ? {} : { spec }),
  };
}

/**
 * The waypoint deployment controller (after istiod's pilot/pkg/config/kube/gateway/deploymentcontroller.go): for every
 * valid `istio-waypoint` Gateway it keeps a ServiceAccount, Deployment and Service in the shape `renderWaypoint` gives,
 * owned by the Gateway so that Kubernetes' garbage collector removes them with it; and it keeps the GatewayClass
 * `istio-waypoint` in existence. Events (a Gateway, one of its objects, the class) mark a key dirty; one loop
 * reconciles dirty keys in turn — read each object, create what is missing, patch what drifted, leave alone what is
 * someone else's — and retries a failed key with backoff. Objects are read fresh from the API, not from a cache, so
 * a reconcile never acts on a state older than the event that caused it.
 */
export class WaypointDeployer {
  readonly #gateways = new Map<string, WaypointGateway>();
  /** Gateways that stopped being waypoints (class changed): what they own is removed. */
  readonly #released = new Map<string, { namespace: string; name: string; uid: string }>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #retries = new Map<string, ClockTimer>();
  readonly #backoff;
  readonly #clock: Clock;
  readonly #log: Logger;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly opts: WaypointDeployerOptions) {
    this.#backoff = createBackoff({ initialMs: 200, maxMs: 30_000, ...opts.backoff });
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.log.child({ component: 'waypoint-deployer' });
  }

  /** A Gateway event. Gateways of other classes are ignored, unless one was a waypoint a moment ago. */
  gateway(type: 'upsert' | 'delete', obj: KubeJson): void {
    const meta = asRecord(obj['metadata']);
    const key = `${String(meta['namespace'])}/${String(meta['name'])}`;
    const had = this.#gateways.get(key);
    if (type === 'delete') {
      // Kubernetes' garbage collector removes what the Gateway owned.
      this.#gateways.delete(key);
      this.#released.delete(key);
      return;
    }
    let parsed;
    try {
      parsed = parseWaypointGateway(obj);
    } catch (err) {
      // Unreadable metadata or spec: keep acting on the last good version (the model reports the object).
      this.#log.debug({ gateway: key, err: errorMessage(err) }, 'gateway not readable; last good version kept');
      return;
    }
    if (parsed.kind === 'other') {
      if (had === undefined) return;
      this.#gateways.delete(key);
      this.#released.set(key, { namespace: had.namespace, name: had.name, uid: had.uid });
    } else {
      this.#gateways.set(key, parsed.gateway);
      this.#released.delete(key);
    }
    this.#enqueue(key);
  }

  /**
   * An event of a ServiceAccount, Service or Deployment: one of ours is checked for drift; one that merely has a
   * waypoint's name (someone else's, in the way) is checked too, so the waypoint is written once it is gone.
   */
  owned(obj: KubeJson): void {
    const meta = asRecord(obj['metadata']);
    const labels = asRecord(meta['labels']);
    const gw = labels[MANAGED_LABEL] === MANAGED_VALUE ? labels[GATEWAY_NAME_LABEL] : meta['name'];
    if (typeof gw !== 'string') return;
    const key = `${String(meta['namespace'])}/${gw}`;
    if (this.#gateways.has(key)) this.#enqueue(key);
  }

  /** A GatewayClass event: ours is put back when deleted. */
  gatewayClass(type: 'upsert' | 'delete', obj: KubeJson): void {
    if (asRecord(obj['metadata'])['name'] === WAYPOINT_GATEWAY_CLASS && type === 'delete') this.#enqueue(CLASS_KEY);
  }

  /** Checks everything once: at a new leadership term, and once the informers have synced. */
  resync(): void {
    this.#enqueue(CLASS_KEY);
    for (const key of [...this.#gateways.keys(), ...this.#released.keys()]) this.#enqueue(key);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#retries.values()) this.#clock.clearTimeout(t);
    this.#retries.clear();
    await this.#running;
  }

  /** Settles when nothing is queued or running (for tests). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  #enqueue(key: string): void {
    if (this.#stopped) return;
    this.#dirty.add(key);
    if (this.#running !== undefined) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
    });
  }

  async #drain(): Promise<void> {
    for (let key = first(this.#dirty); key !== undefined && !this.#stopped; key = first(this.#dirty)) {
      this.#dirty.delete(key);
      // Not leading: nothing is written; the next term's resync() covers what was dropped here.
      if (!this.opts.isLeader()) continue;
      const pending = this.#retries.get(key);
      if (pending !== undefined) {
        this.#clock.clearTimeout(pending);
        this.#retries.delete(key);
      }
      try {
        await this.#reconcile(key);
        this.#failures.delete(key);
      } catch (err) {
        const failures = (this.#failures.get(key) ?? 0) + 1;
        this.#failures.set(key, failures);
        const delayMs = this.#backoff.delayMs(failures);
        this.#log.warn({ key, failures, retryMs: Math.round(delayMs), err: errorMessage(err) }, 'waypoint reconcile failed; will retry');
        this.#retries.set(
          key,
          this.#clock.setTimeout(() => {
            this.#retries.delete(key);
            this.#enqueue(key);
          }, delayMs),
        );
      }
    }
  }

  async #reconcile(key: string): Promise<void> {
    if (key === CLASS_KEY) return this.#ensureClass();
    const released = this.#released.get(key);
    if (released !== undefined) {
      await this.#release(released);
      this.#released.delete(key);
      return;
    }
    const gw = this.#gateways.get(key);
    // An invalid spec changes nothing: a running waypoint keeps serving while its author fixes the Gateway.
    if (gw === undefined || gw.problem !== undefined) return;
    const objects = renderWaypoint(gw, this.opts.deploy);
    const problems: string[] = [];
    for (const { kind, collection } of OWNED) {
      const want = kind === 'ServiceAccount' ? objects.serviceAccount : kind === 'Service' ? objects.service : objects.deployment;
      const problem = await this.#apply(kind, collection(gw.namespace), gw, want);
      if (problem !== undefined) problems.push(problem);
    }
    this.opts.onProblem?.(key, problems.length === 0 ? undefined : problems.join('; '));
  }

  /** Creates or repairs one object; returns why it cannot, when the name is taken by an object that is not ours. */
  async #apply(kind: string, collection: string, gw: WaypointGateway, want: KubeJson): Promise<string | undefined> {
    const path = `${collection}/${gw.name}`;
    const live = await this.#get(path);
    if (live === undefined) {
      await this.opts.client.request('POST', collection, want);
      this.#log.info({ gateway: `${gw.namespace}/${gw.name}`, kind }, 'waypoint object created');
      return undefined;
    }
    if (!controlledByGateway(live, gw.name)) {
      return `${kind} ${gw.namespace}/${gw.name} exists and is not owned by this Gateway; delete it, or rename the Gateway`;
    }
    const fields = managedFields(want);
    if (isSubset(fields, live)) return undefined;
    await this.opts.client.request('PATCH', path, fields, 'application/merge-patch+json');
    this.#log.info({ gateway: `${gw.namespace}/${gw.name}`, kind }, 'waypoint object drifted; re-applied');
    return undefined;
  }

  /** Removes what a Gateway that is no longer a waypoint owns (by UID: nothing a same-named newcomer owns). */
  async #release(gw: { namespace: string; name: string; uid: string }): Promise<void> {
    for (const { kind, collection } of OWNED) {
      const path = `${collection(gw.namespace)}/${gw.name}`;
      const live = await this.#get(path);
      const refs = asRecord(live?.['metadata'])['ownerReferences'];
      if (!Array.isArray(refs) || !refs.some((r) => asRecord(r)['uid'] === gw.uid && asRecord(r)['controller'] === true)) continue;
      try {
        await this.opts.client.request('DELETE', path, { propagationPolicy: 'Background' });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
      this.#log.info({ gateway: `${gw.namespace}/${gw.name}`, kind }, 'Gateway is no longer a waypoint; its object removed');
    }
  }

  /** The GatewayClass istiod keeps for waypoints; created when absent, never rewritten when present (it is immutable in practice). */
  async #ensureClass(): Promise<void> {
    if ((await this.#get(CLASS_PATH)) !== undefined) return;
    await this.opts.client.request('POST', `/apis/${GATEWAY_API_VERSION}/gatewayclasses`, {
      apiVersion: GATEWAY_API_VERSION,
      kind: 'GatewayClass',
      metadata: { name: WAYPOINT_GATEWAY_CLASS },
      spec: { controllerName: WAYPOINT_CONTROLLER_NAME, description: 'The default Istio waypoint GatewayClass, served by Ambit' },
    });
    this.#log.info({ name: WAYPOINT_GATEWAY_CLASS }, 'GatewayClass created');
  }

  async #get(path: string): Promise<KubeJson | undefined> {
    try {
      return await this.opts.client.get<KubeJson>(path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }
}

function first(set: ReadonlySet<string>): string | undefined {
  for (const v of set) return v;
  return undefined;
}
