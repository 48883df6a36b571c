import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterPaths } from '@ambit/local';
import { REPO, run } from './ambitctl.ts';
import { componentPod } from './mesh-components.ts';

// The mesh CA as a node's ztunnel meets it: node N's ztunnel token (a TokenRequest bound to its pod, as its projected
// volume holds), presented from node N's network namespace to the controller's Service over TLS, verified with the
// published root (ca-request.ts runs there; the test process opens no socket toward the cluster).

export interface CaAnswer {
  readonly ok: boolean;
  readonly notAfter?: string;
  readonly error?: string;
}

export interface NodeCa {
  /** Asks for `identity`; with `outPrefix`, the certificate and key land in `<outPrefix>-cert.pem` / `-key.pem`. */
  ask(identity: string, outPrefix?: string): Promise<CaAnswer>;
}

export async function nodeCa(paths: ClusterPaths, node: string, work: string): Promise<NodeCa> {
  const kubectl = (args: readonly string[]) => run(['kubectl', '--kubeconfig', paths.kubeconfig, ...args]);
  const pod = componentPod(paths, 'ztunnel', node);
  const uid = await kubectl(['get', 'pod', '-n', 'ambit-system', pod, '-o', 'jsonpath={.metadata.uid}']);
  assert.equal(uid.code, 0, uid.stderr);
  const token = await kubectl([
    ...['create', 'token', 'ztunnel', '-n', 'ambit-system', '--audience', 'ambit-ca'],
    ...['--bound-object-kind', 'Pod', '--bound-object-name', pod, '--bound-object-uid', uid.stdout.trim()],
  ]);
  assert.equal(token.code, 0, token.stderr);
  const tokenFile = join(work, `ztunnel-${node}-token`);
  writeFileSync(tokenFile, token.stdout.trim(), { mode: 0o600 });
  const root = await kubectl(['get', 'cm', '-n', 'ambit-system', 'ambit-ca-root-cert', '-o', 'jsonpath={.data.root-cert\\.pem}']);
  assert.equal(root.code, 0, root.stderr);
  const rootFile = join(work, 'mesh-root.pem');
  writeFileSync(rootFile, root.stdout);
  const vip = await kubectl(['get', 'svc', '-n', 'ambit-system', 'ambit-controller', '-o', 'jsonpath={.spec.clusterIP}']);
  assert.equal(vip.code, 0, vip.stderr);
  return {
    async ask(identity, outPrefix) {
      const r = await run([
        ...['ip', 'netns', 'exec', `${paths.prefix}${node}`, process.execPath, '--import', 'tsx'],
        join(REPO, 'test/integration/helpers/ca-request.ts'),
        ...[`${vip.stdout.trim()}:15012`, 'ambit-controller.ambit-system.svc', rootFile, tokenFile, identity],
        ...(outPrefix === undefined ? [] : [outPrefix]),
      ]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as CaAnswer;
    },
  };
}
