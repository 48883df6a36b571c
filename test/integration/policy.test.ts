import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { clusterPaths } from '@ambit/local';
import { ambitctl, ambitctlOk, downAndCheckClean, fixtureCopy, podNetns, pods, REPO, run } from './helpers/ambitctl.ts';
import { componentLog } from './helpers/mesh-components.ts';

// Issue 5 acceptance: AuthorizationPolicy and PeerAuthentication enforced by the destination ztunnel on a 2-node
// local cluster, with unmodified clients (nc) in pods. backend (shop, node2) is the destination throughout.
const CLUSTER = 'it-policy';
const paths = clusterPaths(CLUSTER);
const NEEDS = { root: true, executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/bin/nc', '/usr/bin/kubectl', '/usr/bin/curl'] };

let dir = '';
let work = '';
let ready = false;
const ips = new Map<string, string>();
const ip = (key: string): string => ips.get(key) ?? assert.fail(`no pod ${key}`);

/** One nc round trip from a pod to backend: the reply, or '' when the connection was refused or reset. */
async function call(ns: string, pod: string, port = 7000): Promise<string> {
  const r = await ambitctl(CLUSTER, ['local', 'exec', '-n', ns, pod, '--', 'nc', '-N', '-w', '3', ip('shop/backend'), String(port)], {
    input: 'ping\n',
  });
  return r.stdout;
}
const greeting = (from: string, port = 7000): string => (port === 7000 ? `hello from backend to ${ip(from)}\nping\n` : '');
const allowed = async (ns: string, pod: string): Promise<boolean> => (await call(ns, pod)) === greeting(`${ns}/${pod}`);

let seq = 0;
/** Applies a manifest and returns a function that deletes it again. */
async function apply(yaml: string): Promise<() => Promise<void>> {
  const file = join(work, `p${++seq}.yaml`);
  writeFileSync(file, yaml);
  await ambitctlOk(CLUSTER, ['local', 'apply', '-f', file]);
  return async () => {
    await ambitctlOk(CLUSTER, ['local', 'delete', '-f', file]);
  };
}

function authz(name: string, spec: string, extraMeta = ''): string {
  return `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: shop\n${extraMeta}spec:\n${spec}`;
}

const BACKEND = '  selector:\n    matchLabels: { app: backend }\n';

describe('L4 authorization on a local cluster', { concurrency: false }, () => {
  before(async () => {
    if (process.getuid?.() !== 0) return;
    dir = fixtureCopy('policy');
    work = mkdtempSync(join(tmpdir(), 'ambit-policy-'));
    const podsFile = join(dir, '10-pods.yaml');
    writeFileSync(
      podsFile,
      readFileSync(podsFile, 'utf8').replaceAll('@MESH_APPS@', join(REPO, 'test', 'integration', 'fixtures', 'mesh', 'apps')),
    );
    const up = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '2'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
    for (const ns of ['shop', 'guest', 'outside']) for (const p of await pods(CLUSTER, ns)) ips.set(`${ns}/${p.name}`, p.ip);
    ready = true;
  });

  after(async () => {
    if (process.getuid?.() !== 0) return;
    await downAndCheckClean(CLUSTER, dir, work);
  });

  test('no ALLOW policy: every caller is allowed', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    for (const [ns, pod] of [
      ['shop', 'frontend'],
      ['shop', 'other'],
      ['guest', 'visitor'],
      ['outside', 'plain'],
    ] as const) {
      assert.equal(await call(ns, pod), greeting(`${ns}/${pod}`), `${ns}/${pod}`);
    }
  });

  test('allow only a principal; explain says why', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const remove = await apply(
      authz(
        'frontend-only',
        `${BACKEND}  action: ALLOW\n  rules:\n    - from:\n        - source: { principals: ["cluster.local/ns/shop/sa/frontend"] }\n`,
      ),
    );
    try {
      await eventually(async () => assert.equal(await allowed('shop', 'other'), false), 10_000);
      assert.equal(await allowed('shop', 'frontend'), true);
      assert.equal(await allowed('guest', 'visitor'), false);
      assert.equal(await allowed('outside', 'plain'), false, 'plaintext has no principal');
      const yes = await ambitctlOk(CLUSTER, ['policy', 'explain', '--from', 'shop/frontend', '--to', 'shop/backend:7000']);
      assert.match(yes, /^ALLOW: shop\/frontend → shop\/backend:7000/);
      assert.match(yes, /ALLOW shop\/frontend-only \[WORKLOAD_SELECTOR\]: matched by rules\[0\] — decided/);
      const no = await ambitctlOk(CLUSTER, ['policy', 'explain', '--from', 'shop/other', '--to', 'shop/backend:7000']);
      assert.match(no, /^DENY: shop\/other → shop\/backend:7000 — no ALLOW policy matched/);
      assert.match(no, /principals \[cluster\.local\/ns\/shop\/sa\/frontend\]/);
    } finally {
      await remove();
    }
    await eventually(async () => assert.equal(await allowed('shop', 'other'), true), 10_000);
  });

  test('deny one port', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const remove = await apply(
      authz('no-7001', `${BACKEND}  action: DENY\n  rules:\n    - to:\n        - operation: { ports: ["7001"] }\n`),
    );
    try {
      await eventually(async () => {
        const r = await ambitctl(
          CLUSTER,
          ['local', 'exec', '-n', 'shop', 'frontend', '--', 'nc', '-N', '-w', '3', ip('shop/backend'), '7001'],
          { input: 'x' },
        );
        assert.equal(r.stdout, '', 'port 7001 refused');
      }, 10_000);
      assert.equal(await allowed('shop', 'frontend'), true, 'port 7000 still open');
    } finally {
      await remove();
    }
  });

  test('namespace isolation: only the same namespace may call', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const remove = await apply(authz('same-ns', `  action: ALLOW\n  rules:\n    - from:\n        - source: { namespaces: ["shop"] }\n`));
    try {
      await eventually(async () => assert.equal(await allowed('guest', 'visitor'), false), 10_000);
      assert.equal(await allowed('shop', 'frontend'), true);
      assert.equal(await allowed('shop', 'other'), true);
    } finally {
      await remove();
    }
  });

  test('ipBlocks admit a plaintext source by address', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const remove = await apply(
      authz('by-ip', `${BACKEND}  action: ALLOW\n  rules:\n    - from:\n        - source: { ipBlocks: ["${ip('outside/plain')}/32"] }\n`),
    );
    try {
      await eventually(async () => assert.equal(await allowed('outside', 'plain2'), false), 10_000);
      assert.equal(await allowed('outside', 'plain'), true);
    } finally {
      await remove();
    }
  });

  test('an ALLOW policy with only L7 fields denies at L4, and its status says why', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const remove = await apply(
      authz('get-only', `${BACKEND}  action: ALLOW\n  rules:\n    - to:\n        - operation: { methods: ["GET"] }\n`),
    );
    try {
      await eventually(async () => assert.equal(await allowed('shop', 'frontend'), false), 10_000);
      const status = await eventually(async () => {
        const r = await run([
          'kubectl',
          '--kubeconfig',
          paths.kubeconfig,
          'get',
          'authorizationpolicy',
          '-n',
          'shop',
          'get-only',
          '-o',
          'json',
        ]);
        const conds =
          (JSON.parse(r.stdout) as { status?: { conditions?: Array<{ type: string; message?: string }> } }).status?.conditions ?? [];
        const c = conds.find((x) => x.type === 'ZtunnelAccepted');
        assert.ok(c, `ZtunnelAccepted condition in ${r.stdout}`);
        return c;
      }, 10_000);
      assert.match(status.message ?? '', /ztunnel does not support HTTP attributes \(found: methods\)/);
    } finally {
      await remove();
    }
  });

  test('dry run: a matching DENY is logged, not enforced', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const remove = await apply(
      authz(
        'dry-deny',
        `${BACKEND}  action: DENY\n  rules:\n    - from:\n        - source: { principals: ["cluster.local/ns/shop/sa/frontend"] }\n`,
        '  annotations: { istio.io/dry-run: "true" }\n',
      ),
    );
    try {
      await eventually(async () => {
        assert.equal(await allowed('shop', 'frontend'), true);
        const log = componentLog(paths, 'ztunnel', 'node2');
        assert.match(log, /"dryRunPolicy":"shop\/dry-deny".*dry-run: policies would deny this connection/);
      }, 10_000);
    } finally {
      await remove();
    }
  });

  test('a long-lived connection is closed within 1 s of a policy that denies it; the denial is counted', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const netns = await podNetns(CLUSTER, 'shop', 'frontend');
    const app = join(REPO, 'test', 'integration', 'fixtures', 'mesh', 'apps', 'watch-close.mjs');
    const holder = spawn('ip', ['netns', 'exec', netns, process.execPath, app, ip('shop/backend'), '7000'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    let closedAt = 0;
    holder.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (closedAt === 0 && out.includes('closed')) closedAt = Date.now();
    });
    await eventually(() => assert.match(out, /open/));
    const remove = await apply(
      authz(
        'cut-frontend',
        `${BACKEND}  action: DENY\n  rules:\n    - from:\n        - source: { principals: ["cluster.local/ns/shop/sa/frontend"] }\n`,
      ),
    );
    const appliedAt = Date.now();
    try {
      await eventually(() => assert.ok(closedAt > 0, `the open connection was closed (${out.trim()})`), 5000).finally(() => holder.kill());
      t.diagnostic(`closed ${closedAt - appliedAt} ms after the policy was applied`);
      assert.ok(closedAt - appliedAt <= 1000, `closed after ${closedAt - appliedAt} ms`);
      assert.equal(await allowed('shop', 'frontend'), false, 'new connections are denied too');
      const metrics = await ambitctlOk(CLUSTER, ['local', 'node-exec', 'node2', '--', 'curl', '-s', '127.0.0.1:15020/metrics']);
      const denied = metrics
        .split('\n')
        .find(
          (l) =>
            l.startsWith('istio_tcp_connections_closed_total{') &&
            l.includes('response_flags="DENY"') &&
            l.includes('source_principal="spiffe://cluster.local/ns/shop/sa/frontend"'),
        );
      assert.ok(
        denied !== undefined && Number(denied.split(' ').at(-1)) >= 1,
        `a DENY count for frontend in:\n${metrics
          .split('\n')
          .filter((l) => l.startsWith('istio_tcp'))
          .join('\n')}`,
      );
    } finally {
      await remove();
    }
  });
});
