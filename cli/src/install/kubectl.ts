// ambitctl drives installs through the user's kubectl, as `kubectl` itself would be typed (kustomize, server-side
// apply, rollout status, cascading delete): one client behaviour to trust, and exactly the objects deploy/ renders.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { AmbitError, isRecord } from '@ambit/core';

/** deploy/ of this release (ambitctl runs from its checkout or the image's /opt/ambit). */
export const DEPLOY_DIR = fileURLToPath(new URL('../../../deploy/', import.meta.url));

export interface KubectlOptions {
  /** `--kubeconfig`; undefined for commands that need no cluster (kustomize). */
  readonly kubeconfig?: string;
  /** Fed on stdin. */
  readonly input?: string;
  /** Each line of stdout and stderr as it comes (progress); else both are collected. */
  readonly onLine?: (line: string) => void;
}

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl; resolves with its exit code and output (never rejects for a non-zero exit). */
export function runKubectl(args: readonly string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
  const argv = [...(opts.kubeconfig === undefined ? [] : ['--kubeconfig', opts.kubeconfig]), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const lines = (chunk: string, carry: { rest: string }): void => {
      if (opts.onLine === undefined) return;
      const parts = (carry.rest + chunk).split('\n');
      carry.rest = parts.pop() ?? '';
      for (const l of parts) opts.onLine(l);
    };
    const outCarry = { rest: '' };
    const errCarry = { rest: '' };
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      lines(c, outCarry);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      lines(c, errCarry);
    });
    child.once('error', (err) =>
      reject(new AmbitError('NO_KUBECTL', `cannot run kubectl (is it on PATH?): ${err.message}`, { cause: err })),
    );
    child.once('close', (code) => {
      for (const rest of [outCarry.rest, errCarry.rest]) if (rest !== '') opts.onLine?.(rest);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.once('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runKubectl, but a non-zero exit is a KUBECTL_FAILED error carrying kubectl's stderr. */
export async function kubectlOk(args: readonly string[], opts: KubectlOptions = {}): Promise<string> {
  const r = await runKubectl(args, opts);
  if (r.code !== 0) throw new AmbitError('KUBECTL_FAILED', `kubectl ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** `kubectl kustomize DIR` as objects, in kustomize's output order. */
export async function renderKustomization(dir: string): Promise<Record<string, unknown>[]> {
  const text = await kubectlOk(['kustomize', dir]);
  const objects: Record<string, unknown>[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new AmbitError('BAD_RENDER', `kubectl kustomize ${dir}: ${doc.errors[0]?.message ?? 'bad YAML'}`);
    const o: unknown = doc.toJS();
    if (o === null || o === undefined) continue;
    if (!isRecord(o)) throw new AmbitError('BAD_RENDER', `kubectl kustomize ${dir}: a document is not an object`);
    objects.push(o);
  }
  return objects;
}
