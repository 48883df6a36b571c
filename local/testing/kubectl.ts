import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { silentLogger } from '@ambit/core';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../src/api/server.ts';
import type { ObjectStore } from '../src/store/object-store.ts';

/** True when a kubectl binary is on PATH (tests skip without it, except in CI). */
export function hasKubectl(): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, 'kubectl'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export const KUBECTL_SKIP = hasKubectl() || process.env['CI'] === 'true' ? false : 'kubectl is not on PATH (CI never skips this)';

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real kubectl against a real API server over a store, with its own kubeconfig and cache directory. */
export interface KubectlFixture {
  readonly api: ApiServer;
  readonly dir: string;
  kubectl(...args: string[]): Promise<KubectlResult>;
  kubectlOk(...args: string[]): Promise<string>;
  /** kubectl with its own kubeconfig holding another bearer token (a ServiceAccount's), same server and CA. */
  withToken(token: string): { kubectl(...args: string[]): Promise<KubectlResult>; kubectlOk(...args: string[]): Promise<string> };
  /** A long-running kubectl (`-f`, `-w`); `output()` is what it printed so far. */
  spawn(...args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> };
  close(): Promise<void>;
}

export async function startKubectlFixture(
  store: ObjectStore,
  options: Partial<Pick<ApiServerOptions, 'extensions' | 'podLogDir' | 'serviceAccountTokens'>> = {},
): Promise<KubectlFixture> {
  const token = 'kubectl-fixture-token';
  const dir = mkdtempSync(join(tmpdir(), 'ambit-kubectl-'));
  const api = await createApiServer({ store, listen: { host: '127.0.0.1', port: 0 }, token, log: silentLogger(), ...options });
  const ca = Buffer.from(api.caCertPem ?? '').toString('base64');
  let kubeconfigs = 0;
  const writeKubeconfig = (bearer: string): string => {
    // The admin's is `<dir>/kubeconfig` (tests read it); each further token gets its own file.
    const path = join(dir, kubeconfigs === 0 ? 'kubeconfig' : `kubeconfig-${kubeconfigs}`);
    kubeconfigs++;
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster: { server: api.url, 'certificate-authority-data': ca } }],
        users: [{ name: 'local', user: { token: bearer } }],
        contexts: [{ name: 'local', context: { cluster: 'local', user: 'local', namespace: 'default' } }],
        'current-context': 'local',
      }),
      { mode: 0o600 },
    );
    return path;
  };
  const env = { ...process.env, KUBECONFIG: writeKubeconfig(token) };
  const base = ['--cache-dir', join(dir, 'cache'), '--request-timeout', '20s'];
  const children = new Set<ChildProcess>();
  const runner = (runEnv: NodeJS.ProcessEnv): Pick<KubectlFixture, 'kubectl' | 'kubectlOk'> => {
    const kubectl = (...args: string[]): Promise<KubectlResult> =>
      new Promise((resolve) => {
        const child = execFile('kubectl', [...base, ...args], { env: runEnv, timeout: 30_000 }, (err, stdout, stderr) => {
          children.delete(child);
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
        });
        children.add(child);
      });
    const kubectlOk = async (...args: string[]): Promise<string> => {
      const r = await kubectl(...args);
      assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    };
    return { kubectl, kubectlOk };
  };
  const { kubectl, kubectlOk } = runner(env);
  return {
    api,
    dir,
    kubectl,
    kubectlOk,
    withToken: (bearer) => runner({ ...process.env, KUBECONFIG: writeKubeconfig(bearer) }),
    spawn: (...args) => {
      const child = spawn('kubectl', [...base, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((resolve) =>
        child.on('exit', (code) => {
          children.delete(child);
          resolve(code);
        }),
      );
      return { child, output: () => out, exited };
    },
    close: async () => {
      for (const c of children) c.kill('SIGKILL');
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
