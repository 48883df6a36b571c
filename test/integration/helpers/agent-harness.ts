// The node agent against the local cluster's real API server (helpers/local-api.ts, over TLS with a token, as the
// agent reads a cluster): a temporary directory for sockets and state, the agent in-process (restartable on the same
// files), and Kubernetes objects written straight into the API's store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type Agent, type AgentOptions } from '../../../cni/src/agent/agent.ts';
import { NODE, testLogger } from '../../../cni/testing/agent-harness.ts';
import type { KubeObject } from '../../../local/src/kube/types.ts';
import { ObjectStore, type ObjectStoreOptions } from '../../../local/src/store/object-store.ts';
import { LocalApi } from './local-api.ts';

export { NODE };

/** A pod as a test describes it; the API assigns the uid. */
export interface PodFields {
  readonly name: string;
  readonly namespace: string;
  /** Default `node1`, the harness's node. */
  readonly nodeName?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly serviceAccount?: string;
  /** Sets status.podIP/podIPs; none means the sandbox is still being set up. */
  readonly ip?: string;
  /** Default Running with an IP, Pending without. */
  readonly phase?: string;
  readonly hostNetwork?: boolean;
}

/** A v1 Pod as a kubelet's API would hold it. */
export function podObject(p: PodFields): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      labels: p.labels ?? {},
      ...(p.annotations === undefined ? {} : { annotations: p.annotations }),
    },
    spec: {
      nodeName: p.nodeName ?? NODE,
      ...(p.serviceAccount === undefined ? {} : { serviceAccountName: p.serviceAccount }),
      ...(p.hostNetwork === true ? { hostNetwork: true } : {}),
      containers: [{ name: 'app', image: 'app' }],
    },
    status: {
      phase: p.phase ?? (p.ip === undefined ? 'Pending' : 'Running'),
      ...(p.ip === undefined ? {} : { podIP: p.ip, podIPs: [{ ip: p.ip }] }),
    },
  };
}

/** Writes objects as a cluster's users and kubelets would, through the API's store. */
export class Objects {
  readonly #podType;
  readonly #nsType;

  constructor(readonly store: ObjectStore) {
    this.#podType = store.typeOf({ apiVersion: 'v1', kind: 'Pod' });
    this.#nsType = store.typeOf({ apiVersion: 'v1', kind: 'Namespace' });
  }

  /** Creates the namespace, or replaces its labels. */
  namespace(name: string, labels: Record<string, string> = {}): void {
    const cur = this.store.find(this.#nsType, undefined, name);
    const obj: KubeObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
    };
    if (cur === undefined) this.store.create(obj);
    else this.store.update({ ...cur, metadata: { ...cur.metadata, labels: obj.metadata.labels ?? {} } });
  }

  /** Creates the pod, or replaces its labels, annotations, spec and status; returns its uid. */
  pod(p: PodFields): string {
    const obj = podObject(p);
    const cur = this.store.find(this.#podType, p.namespace, p.name);
    if (cur === undefined) return this.store.create(obj).metadata.uid ?? '';
    const { resourceVersion: _rv, ...meta } = cur.metadata;
    const updated = this.store.update({ ...obj, metadata: { ...meta, labels: p.labels ?? {}, annotations: p.annotations ?? {} } });
    this.store.update({ ...updated, status: obj['status'] }, { subresource: 'status' });
    return updated.metadata.uid ?? '';
  }

  uid(namespace: string, name: string): string | undefined {
    return this.store.find(this.#podType, namespace, name)?.metadata.uid;
  }

  /** Deletes the pod at once (grace 0), as after its node stopped it. */
  deletePod(namespace: string, name: string): void {
    this.store.delete(this.#podType, namespace, name, { gracePeriodSeconds: 0 });
  }

  /** Starts a graceful deletion: the pod stays, terminating (metadata.deletionTimestamp set). */
  terminatePod(namespace: string, name: string): void {
    this.store.delete(this.#podType, namespace, name, { gracePeriodSeconds: 30 });
  }
}

export interface AgentHarness {
  readonly dir: string;
  readonly api: LocalApi;
  readonly objects: Objects;
  readonly cniSocket: string;
  readonly ztunnelSocket: string;
  readonly stateFile: string;
  /** The running agent (after start()). */
  agent(): Agent;
  /** Starts an agent on the harness's files; extra options override the test defaults. */
  start(extra?: Partial<Omit<AgentOptions, 'log'>>): Promise<Agent>;
  /** Closes the running agent (as on SIGTERM). */
  stop(): Promise<void>;
  /** Stops everything and removes the directory. */
  close(): Promise<void>;
}

/** Starts the API (its store holding `default`, `ambit-system` and what the test writes); the agent waits for start(). */
export async function createAgentHarness(storeOptions: ObjectStoreOptions = {}): Promise<AgentHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tagent-'));
  const store = new ObjectStore({ namespaces: ['default', 'ambit-system'], ...storeOptions });
  const api = await new LocalApi(store).start();
  const cniSocket = join(dir, 'agent.sock');
  const ztunnelSocket = join(dir, 'ztunnel.sock');
  const stateFile = join(dir, 'state', 'agent-state.json');
  let running: Agent | undefined;
  const harness: AgentHarness = {
    dir,
    api,
    objects: new Objects(store),
    cniSocket,
    ztunnelSocket,
    stateFile,
    agent() {
      if (running === undefined) throw new Error('BUG: no agent running');
      return running;
    },
    async start(extra = {}) {
      running = await startAgent({
        node: NODE,
        kubeConfig: api.kubeConfig(),
        cniSocket,
        ztunnelSocket,
        stateFile,
        log: testLogger(),
        ztunnelAckTimeoutMs: 2000,
        backoff: { initialMs: 50, maxMs: 500 },
        ...extra,
      });
      return running;
    },
    async stop() {
      await running?.close();
      running = undefined;
    },
    async close() {
      await harness.stop();
      await api.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
