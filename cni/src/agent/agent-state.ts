// The agent's memory of which pods it captured, kept in a JSON file so that a restarted agent can replay them to
// ztunnel: the capture rules outlive the agent (they sit in the pods' namespaces), so forgetting a pod would leave it
// redirected to listeners nobody tells ztunnel to create.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AmbitError, errorMessage, isRecord, type Logger } from '@ambit/core';
import { parseZdsPod, type ZdsPod } from '@ambit/core/zds';

/** A captured pod: what ztunnel is told, plus the sandbox that CNI ADD enrolled (none for label-driven enrolment). */
export interface EnrolledPod extends ZdsPod {
  readonly containerId?: string;
}

const FILE_VERSION = 1;

export class AgentState {
  readonly #path: string;
  readonly #log: Logger;
  readonly #pods = new Map<string, EnrolledPod>();
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
  }

  /**
   * Reads the file; a missing file is an empty state. A file that does not parse is moved aside (`.bad`) and the
   * agent starts empty: the label-driven reconcile re-enrols running ambient pods, which beats crash-looping the
   * node's capture over a file nobody can fix from inside the pod.
   */
  static async load(path: string, log: Logger): Promise<AgentState> {
    const state = new AgentState(path, log.child({ component: 'agent-state' }));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
      throw err;
    }
    try {
      for (const pod of parseStateFile(text)) state.#pods.set(pod.uid, pod);
    } catch (err) {
      state.#log.error({ path, err: errorMessage(err) }, 'state file does not parse: moved aside, starting empty');
      await rename(path, `${path}.bad`);
    }
    return state;
  }

  get(uid: string): EnrolledPod | undefined {
    return this.#pods.get(uid);
  }

  all(): EnrolledPod[] {
    return [...this.#pods.values()];
  }

  /** The enrolment a CNI DEL names: by sandbox id, or by pod name for a pod enrolled without a sandbox id. */
  findForDel(containerId: string, namespace: string | undefined, name: string | undefined): EnrolledPod | undefined {
    const pods = this.all();
    const bySandbox = pods.find((p) => p.containerId === containerId);
    if (bySandbox !== undefined) return bySandbox;
    // A DEL for an older sandbox of a pod that has a newer one must not release the newer one, so a name only
    // matches enrolments that never had a sandbox id.
    return pods.find((p) => p.containerId === undefined && p.namespace === namespace && p.name === name);
  }

  put(pod: EnrolledPod): void {
    this.#pods.set(pod.uid, pod);
  }

  delete(uid: string): boolean {
    return this.#pods.delete(uid);
  }

  /**
   * Writes the current state: a temporary file (mode 0600: it lists every pod of the node) then rename, so a crash
   * leaves the old file or the new one, never half of one. Writes are serialised; each writes the state as it is
   * when it starts.
   */
  save(): Promise<void> {
    const next = this.#writing.catch(() => undefined).then(() => this.#write());
    this.#writing = next;
    return next;
  }

  async #write(): Promise<void> {
    const body = `${JSON.stringify({ version: FILE_VERSION, pods: this.all() }, null, 2)}\n`;
    const tmp = `${this.#path}.tmp-${process.pid}`;
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 });
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(body, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, this.#path);
  }
}

/** The pods of a state file; throws naming the entry and field. */
export function parseStateFile(text: string): EnrolledPod[] {
  const json: unknown = JSON.parse(text);
  if (!isRecord(json)) throw new AmbitError('BAD_STATE_FILE', 'state file: not a JSON object');
  const o = json;
  if (o['version'] !== FILE_VERSION) throw new AmbitError('BAD_STATE_FILE', `state file: field version must be ${FILE_VERSION}`);
  const pods = o['pods'];
  if (!Array.isArray(pods)) throw new AmbitError('BAD_STATE_FILE', 'state file: field pods must be a list');
  return pods.map((entry: unknown, i) => {
    const pod = parseZdsPod(entry, `state file: pods[${i}]`);
    const containerId = (entry as Record<string, unknown>)['containerId'];
    if (containerId === undefined) return pod;
    if (typeof containerId !== 'string' || containerId === '')
      throw new AmbitError('BAD_STATE_FILE', `state file: pods[${i}]: field containerId must be a non-empty string`);
    return { ...pod, containerId };
  });
}
