import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { ambitctl, ambitctlOk, downAndCheckClean, podNetns, pods, REPO } from './helpers/ambitctl.ts';
import { parseMetrics, sumOf } from './helpers/prometheus.ts';
import { ClusterDriver, jsonLinesWith, keysWithValue, sampleRss, rssBytes, WAYPOINT_APPS, type WaypointPod } from './helpers/waypoint.ts';
import { badInputChecks } from './helpers/waypoint-bad-input.ts';
import { telemetryChecks } from './helpers/waypoint-telemetry.ts';

// Issue 13 acceptance on a 2-node local cluster: the whole mesh, a waypoint deployed from a Gateway applied with
// kubectl, and unmodified curl/nc plus Node/grpc-js clients in pods. One cluster serves every check (the suite's time
// budget); the checks run in the order of the Acceptance list and build on each other (the Gateway first,
// then the routes). The client pod is on node1, both backend versions on node2; the waypoint goes where the
// deployment puts it.
const CLUSTER = 'it-waypoint';
const NS = 'wp';
const GATEWAY = 'waypoint';
const TD = 'spiffe://cluster.local';
const FIXTURE = join(REPO, 'test', 'integration', 'fixtures', 'waypoint');
const LIVE = join(FIXTURE, 'live');
const NEEDS = {
  root: true,
  executables: ['/usr/lib/cni/bridge', '/usr/sbin/nft', '/usr/bin/nc', '/usr/bin/curl', '/usr/bin/kubectl', '/usr/bin/prometheus'],
};

const k = new ClusterDriver(CLUSTER);
let work = '';
let ready = false;
/** Set by the first check; every later check needs a programmed waypoint. */
let waypoint: WaypointPod | undefined;
let waypointPid = 0;
const ips = new Map<string, string>();
const vips = new Map<string, string>();

const ip = (pod: string): string => ips.get(pod) ?? assert.fail(`pod ${pod} has an IP`);
const vip = (svc: string): string => vips.get(svc) ?? assert.fail(`service ${svc} has a ClusterIP`);
const wp = (): WaypointPod => waypoint ?? assert.fail('the waypoint was deployed by the first check');

/** curl from the client pod; prints `-w` as its last line. */
function curl(args: readonly string[], timeoutMs = 60_000) {
  return k.exec(NS, 'client', ['curl', '-sS', '--max-time', '20', ...args], { timeoutMs });
}

/** The JSON echo of the HTTP backend (and the status) for one request from the client pod. */
async function echo(
  path: string,
  headers: readonly string[] = [],
  method = 'GET',
): Promise<{ status: number; body: { version: string; path: string; query: string; headers: Record<string, string> } }> {
  const r = await curl(['-X', method, ...headers.flatMap((h) => ['-H', h]), '-w', '\n%{http_code}', `http://svc${path}`]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, body: JSON.parse(lines.join('\n') || '{}') as never };
}

type Load = { versions: Record<string, number>; statuses: Record<string, number>; sockets: number; ms: number };
const load = (url: string, n: number, conns: number, extra: readonly string[] = []): Promise<Load> =>
  k.appJson<Load>(NS, 'client', 'http-load.mjs', [url, String(n), String(conns), ...extra], 120_000);

interface Condition {
  type: string;
  status: string;
  reason?: string;
}
const conditionOf = (conditions: readonly Condition[] | undefined, type: string): Condition | undefined =>
  conditions?.find((c) => c.type === type);

describe('waypoint: L7 routing, retries, timeouts and telemetry on a local cluster', { concurrency: false }, () => {
  before(async () => {
    if (process.getuid?.() !== 0) return;
    work = mkdtempSync(join(tmpdir(), 'ambit-waypoint-'));
    // The fixture directory itself (not a copy): its apps import @grpc/grpc-js from the checkout's node_modules.
    const up = await ambitctl(CLUSTER, ['local', 'up', '-f', FIXTURE, '--nodes', '2'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
    for (const ns of [NS, 'plain']) for (const p of await pods(CLUSTER, ns)) ips.set(p.name, p.ip);
    const svcs = JSON.parse(await ambitctlOk(CLUSTER, ['local', 'get', 'services', '-n', NS, '-o', 'json'])) as {
      items: Array<{ name: string; clusterIP: string }>;
    };
    for (const s of svcs.items) vips.set(s.name, s.clusterIP);
    ready = true;
  });

  after(async () => {
    if (process.getuid?.() !== 0) return;
    await downAndCheckClean(CLUSTER, work);
  });

  test('Gateway and namespace label with kubectl: Programmed=True within 10 s; curl goes through the waypoint', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(ready, 'the cluster did not start (see the before hook)');
    const started = Date.now();
    const applied = await k.kubectl(['apply', '-f', join(LIVE, 'gateway.yaml')]);
    assert.equal(applied.code, 0, applied.stderr);
    const labelled = await k.kubectl(['label', 'namespace', NS, `istio.io/use-waypoint=${GATEWAY}`]);
    assert.equal(labelled.code, 0, labelled.stderr);
    type Gateway = { metadata: { uid: string }; status?: { conditions?: Condition[]; addresses?: Array<{ value: string }> } };
    const gw = await eventually(
      async () => {
        const g = await k.kubectlJson<Gateway>(['get', 'gateway', GATEWAY, '-n', NS]);
        assert.equal(conditionOf(g.status?.conditions, 'Accepted')?.status, 'True', JSON.stringify(g.status));
        assert.equal(conditionOf(g.status?.conditions, 'Programmed')?.status, 'True', JSON.stringify(g.status));
        assert.ok((g.status?.addresses?.length ?? 0) > 0, 'status.addresses is set');
        return g;
      },
      10_000,
      100,
    );
    t.diagnostic(`Programmed=True ${Date.now() - started} ms after kubectl apply`);
    waypoint = await k.waypointPod(NS, GATEWAY);
    waypointPid = await k.waypointPid(NS, wp().name);
    // What the controller created, owned by the Gateway (so deleting it removes them).
    const ownedByGateway = (o: { metadata: { ownerReferences?: Array<{ kind: string; uid: string }> } }): boolean =>
      o.metadata.ownerReferences?.some((r) => r.kind === 'Gateway' && r.uid === gw.metadata.uid) ?? false;
    type Owned = { metadata: { ownerReferences?: Array<{ kind: string; uid: string }> } };
    const svc = await k.kubectlJson<Owned & { spec: { ports: Array<{ port: number }> } }>(['get', 'service', GATEWAY, '-n', NS]);
    assert.ok(ownedByGateway(svc), 'the waypoint Service is owned by the Gateway');
    assert.deepEqual(
      svc.spec.ports.map((p) => p.port).sort((a, b) => a - b),
      [15008, 15020, 15021],
    );
    assert.ok(ownedByGateway(await k.kubectlJson<Owned>(['get', 'deployment', GATEWAY, '-n', NS])), 'the Deployment is owned by it');
    assert.ok(
      ownedByGateway(await k.kubectlJson<Owned>(['get', 'serviceaccount', wp().serviceAccount, '-n', NS])),
      'the ServiceAccount is owned by it',
    );

    const marker = `/hello/${randomBytes(6).toString('hex')}`;
    // The user's view: unmodified curl through `ambitctl local exec`.
    const r = await eventually(async () => {
      const x = await k.execAsUser(NS, 'client', ['curl', '-sS', '--max-time', '5', `http://svc${marker}?close`]);
      assert.equal(x.code, 0, x.stderr);
      return { body: JSON.parse(x.stdout) as { path: string; version: string } };
    }, 10_000);
    assert.equal(r.body.path, marker);
    const clientId = `${TD}/ns/${NS}/sa/client`;
    const waypointId = `${TD}/ns/${NS}/sa/${wp().serviceAccount}`;
    const line = await eventually(() => {
      const found = jsonLinesWith(k.podLog(NS, wp().name), marker)[0];
      assert.ok(found, `the waypoint logged an access line for ${marker}`);
      return found;
    });
    const keys = keysWithValue(line, clientId);
    t.diagnostic(`waypoint access line: client identity under ${keys.join(', ')}: ${JSON.stringify(line)}`);
    assert.ok(keys.length > 0, `the waypoint's access line carries ${clientId}: ${JSON.stringify(line)}`);
    const backendIp = ip(r.body.version === 'v2' ? 'svc-v2' : 'svc-v1');
    // ztunnel logs a connection when it closes: the backend closed this one after answering (?close), where the
    // waypoint would otherwise keep it pooled.
    await eventually(
      () =>
        assert.ok(
          k.ztunnelInbound('node2').some((x) => x['dst.addr'] === `${backendIp}:8080` && x['src.identity'] === waypointId),
          `node2's ztunnel logged an inbound tunnel to ${backendIp}:8080 from ${waypointId}`,
        ),
      15_000,
    );
  });

  test('routes are accepted; header, path prefix, query and method matches; header modifiers; rewrite; redirect', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    for (const f of ['canary-90-10.yaml', 'routes.yaml']) {
      const r = await k.kubectl(['apply', '-f', join(LIVE, f)]);
      assert.equal(r.code, 0, r.stderr);
    }
    type Route = { status?: { parents?: Array<{ controllerName: string; conditions?: Condition[] }> } };
    for (const [kind, name] of [
      ['httproute', 'svc-routes'],
      ['httproute', 'svc-canary'],
      ['grpcroute', 'svc-grpc'],
    ] as const) {
      await eventually(async () => {
        const route = await k.kubectlJson<Route>(['get', kind, name, '-n', NS]);
        const parent = route.status?.parents?.[0];
        assert.equal(parent?.controllerName, 'istio.io/mesh-controller', JSON.stringify(route.status));
        assert.equal(conditionOf(parent?.conditions, 'Accepted')?.status, 'True', JSON.stringify(route.status));
        assert.equal(conditionOf(parent?.conditions, 'ResolvedRefs')?.status, 'True', JSON.stringify(route.status));
      }, 10_000);
    }
    // The first rule of the new routes in effect at the waypoint (config reaches it within a second).
    await eventually(async () => assert.equal((await echo('/only-v2/probe')).body.version, 'v2'), 5000);

    for (let i = 0; i < 5; i++) assert.equal((await echo('/', ['x-canary: true'])).body.version, 'v2', 'x-canary: true → v2');
    assert.equal((await echo('/only-v2/deeper/path')).body.version, 'v2', 'path prefix → v2');
    assert.equal((await echo('/query?ver=two')).body.version, 'v2', 'query parameter → v2');
    assert.equal((await echo('/method', [], 'DELETE')).body.version, 'v2', 'method DELETE → v2');
    // Without the match, the canary split (90/10) takes them: out of 20, some reach v1.
    for (const [path, method] of [
      ['/query?ver=one', 'GET'],
      ['/method', 'GET'],
      ['/only-v2x', 'GET'],
    ] as const) {
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) seen.add((await echo(path, [], method)).body.version);
      assert.ok(seen.has('v1'), `${method} ${path} does not match the v2 rule: ${[...seen].join(',')}`);
    }

    const h = await curl(['-D', '-', '-H', 'x-set: from-client', '-H', 'x-remove: please', '-H', 'x-keep: yes', 'http://svc/headers']);
    const [head = '', body = ''] = h.stdout.split('\r\n\r\n');
    const seenHeaders = (JSON.parse(body) as { headers: Record<string, string> }).headers;
    assert.equal(seenHeaders['x-set'], 'set-by-route', 'set replaces the client value');
    assert.equal(seenHeaders['x-add'], 'added-by-route', 'add');
    assert.equal(seenHeaders['x-remove'], undefined, 'remove');
    assert.equal(seenHeaders['x-keep'], 'yes', 'other headers pass');
    assert.match(head, /^x-response-added: from-route$/im, 'ResponseHeaderModifier');

    const rw = await echo('/old/thing?x=1');
    assert.equal(rw.body.path, '/new/thing', 'ReplacePrefixMatch keeps the rest of the path');
    assert.equal(rw.body.query, 'x=1');

    const redirect = await curl(['-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', 'http://svc/go-away']);
    const [code, location] = redirect.stdout.split(' ');
    assert.equal(code, '301');
    assert.match(location ?? '', /^http:\/\/moved\.example(:80)?\/landed$/);
  });

  test('ambitctl waypoint list/status and waypoint-config routes|backends|endpoints read the live waypoint', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const list = await ambitctlOk(CLUSTER, ['waypoint', 'list', '-n', NS]);
    assert.match(list, new RegExp(`^${GATEWAY}\\s.*True`, 'm'), list);
    const status = await ambitctlOk(CLUSTER, ['waypoint', 'status', '-n', NS, '--name', GATEWAY]);
    assert.match(status, /Programmed/, status);
    const routes = await ambitctlOk(CLUSTER, ['waypoint-config', 'routes', '-n', NS, '--name', GATEWAY, '-o', 'json']);
    for (const name of ['svc-routes', 'svc-canary', 'svc-grpc']) assert.ok(routes.includes(`${NS}/${name}`), `${name} in ${routes}`);
    const table = await ambitctlOk(CLUSTER, ['waypoint-config', 'routes', '-n', NS, '--name', GATEWAY]);
    assert.ok(table.includes(`${NS}/svc-canary`), table);
    const backends = await ambitctlOk(CLUSTER, ['waypoint-config', 'backends', '-n', NS, '--name', GATEWAY]);
    assert.ok(backends.includes('svc.wp.svc.cluster.local'), backends);
    const endpoints = await ambitctlOk(CLUSTER, ['waypoint-config', 'endpoints', '-n', NS, '--name', GATEWAY, '-o', 'json']);
    assert.ok(endpoints.includes(ip('svc-v1')) && endpoints.includes(ip('svc-v2')), endpoints);
  });

  test('retries: attempts 2 on 503 → 500/500 with ≤ 1.5 × 500 backend requests; Istio default; attempts 0 → about half fail', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const stats = async (): Promise<Record<string, number>> => {
      const r = await curl([`http://${ip('svc-v1')}:8080/_stats`]);
      return (JSON.parse(r.stdout) as { buckets: Record<string, number> }).buckets;
    };
    const twice = await load('http://svc/retry-2?flaky=r2', 500, 4, ['--flaky-keys']);
    assert.deepEqual(twice.statuses, { 200: 500 }, JSON.stringify(twice));
    const seen2 = (await stats())['r2'] ?? 0;
    t.diagnostic(`attempts 2: the backend saw ${seen2} requests for 500`);
    assert.ok(seen2 >= 500 && seen2 <= 750, `backend requests ${seen2}`);

    const byDefault = await load('http://svc/retry-default?flaky=rd', 500, 4, ['--flaky-keys']);
    assert.deepEqual(byDefault.statuses, { 200: 500 }, `Istio's default retry policy retries 503: ${JSON.stringify(byDefault)}`);

    const none = await load('http://svc/retry-0?flaky=r0', 500, 4, ['--flaky-keys']);
    const failed = none.statuses['503'] ?? 0;
    t.diagnostic(`attempts 0: ${failed} of 500 failed; the backend saw ${(await stats())['r0']}`);
    assert.ok(failed >= 200 && failed <= 300, `about half fail: ${JSON.stringify(none)}`);
    assert.equal((await stats())['r0'], 500, 'no retries');
  });

  test('timeouts.request 500ms with a backend that sleeps 2 s → 504 within 600 ms', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await curl(['-o', '/dev/null', '-w', '%{http_code} %{time_total}', 'http://svc/timeout?sleep=2000']);
      const [code, secs] = r.stdout.split(' ');
      assert.equal(code, '504', r.stderr);
      times.push(Number(secs) * 1000);
    }
    t.diagnostic(`504 after ${times.map((x) => x.toFixed(0)).join(', ')} ms`);
    const median = [...times].sort((a, b) => a - b)[1] ?? NaN;
    assert.ok(median >= 450 && median <= 600, `504 after ${median} ms`);
  });

  test('canary 90/10: 2 000 requests on keep-alive connections give v2 10 % ± 2', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const r = await load('http://svc/canary', 2000, 8);
    assert.deepEqual(r.statuses, { 200: 2000 }, JSON.stringify(r));
    const share = ((r.versions['v2'] ?? 0) / 2000) * 100;
    t.diagnostic(`v2 share ${share.toFixed(1)} % over ${r.sockets} connections in ${r.ms} ms`);
    assert.ok(r.sockets <= 8, 'keep-alive connections');
    assert.ok(share >= 8 && share <= 12, `v2 share ${share} %`);
  });

  test('weights changed to 0/100 with ambitctl local apply: within 1 s every new request reaches v2; in-flight ones complete', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const netns = await podNetns(CLUSTER, NS, 'client');
    // Requests back to back on 4 keep-alive connections for 10 s, and 4 slow ones (8 s at the backend: longer than an
    // `ambitctl local apply` takes on a loaded machine) started 1 s in:
    // the weights change while those are in flight.
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        process.execPath,
        join(WAYPOINT_APPS, 'http-load.mjs'),
        'http://svc/switch',
        '10000',
        '4',
        '--timeline',
        '--slow',
        'http://svc/switch-slow?sleep=8000',
        '--slow-at',
        '1000',
        '--slow-n',
        '4',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await eventually(() => assert.match(out, /"event":"slow-sent"/), 10_000);
    const applying = Date.now();
    await ambitctlOk(CLUSTER, ['local', 'apply', '-f', join(LIVE, 'canary-0-100.yaml')]);
    const appliedAt = Date.now();
    await exited;
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{"start"'))
      .map((l) => JSON.parse(l) as { start: number; end: number; status: number; version: string; slow: boolean; error?: string });
    const slow = lines.filter((l) => l.slow);
    assert.equal(slow.length, 4);
    for (const s of slow) {
      assert.ok(
        s.start < applying && s.end > appliedAt,
        `the slow request was in flight at the change: ${JSON.stringify(s)}, apply ${applying}–${appliedAt}`,
      );
      assert.equal(s.status, 200, `an in-flight request completed: ${JSON.stringify(s)}`);
    }
    const fast = lines.filter((l) => !l.slow);
    assert.ok(
      fast.every((l) => l.status === 200),
      JSON.stringify(fast.filter((l) => l.status !== 200)),
    );
    const lastV1 = Math.max(0, ...fast.filter((l) => l.version === 'v1').map((l) => l.start));
    t.diagnostic(
      `${fast.length} requests; the last new request on v1 started ${lastV1 - appliedAt} ms after the apply returned; slow ones on ${slow.map((s) => s.version).join(',')}`,
    );
    const late = fast.filter((l) => l.start > appliedAt + 1000);
    assert.ok(late.length > 100, `requests after the change: ${late.length}`);
    assert.deepEqual(
      late.filter((l) => l.version !== 'v2'),
      [],
      'every request started more than 1 s after the change reached v2',
    );
  });

  test('gRPC through the waypoint: unary and server streaming; GRPCRoute method match and weights; h2c', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const target = `${vip('svc')}:9090`;
    const calls = (r: { stdout: string }) =>
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { status?: number; version?: string; versions?: string[]; messages?: number; done?: boolean })
        .filter((x) => x.done !== true);
    const unary = calls(await k.app(NS, 'client', 'grpc-echo.mjs', ['unary', target, '40']));
    assert.equal(unary.length, 40);
    assert.ok(
      unary.every((c) => c.status === 0),
      JSON.stringify(unary),
    );
    const v2 = unary.filter((c) => c.version === 'v2').length;
    t.diagnostic(`unary calls weighted 50/50: ${v2} of 40 on v2`);
    assert.ok(v2 >= 8 && v2 <= 32, 'both weighted backends get calls');
    const streams = calls(await k.app(NS, 'client', 'grpc-echo.mjs', ['stream', target, '5', '5']));
    assert.equal(streams.length, 5);
    for (const s of streams) assert.deepEqual([s.status, s.messages, s.versions], [0, 5, ['v2']], 'method match → v2, 5 messages');
    const failing = calls(await k.app(NS, 'client', 'grpc-echo.mjs', ['unary', target, '1', '5']));
    assert.equal(failing[0]?.status, 5, 'a gRPC error status passes through');

    const h2c = await curl(['--http2-prior-knowledge', 'http://svc:81/h2c?x=1']);
    const answer = JSON.parse(h2c.stdout) as { protocol: string; path: string };
    assert.deepEqual([answer.protocol, answer.path], ['h2', '/h2c']);

    await eventually(async () => {
      const m = parseMetrics((await k.waypointMetrics(NS, wp().name)).text);
      const ok = sumOf(m, 'istio_requests_total', { reporter: 'waypoint', request_protocol: 'grpc', grpc_response_status: '0' });
      assert.ok(ok >= 45, `istio_requests_total{request_protocol="grpc",grpc_response_status="0"} = ${ok}`);
      assert.ok(sumOf(m, 'istio_requests_total', { reporter: 'waypoint', request_protocol: 'grpc', grpc_response_status: '5' }) >= 1);
    });
  });

  test('100 MiB upload and download through the waypoint: SHA-256 equal; waypoint RSS grows < 30 MB', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const file = join(work, 'upload.bin');
    const data = randomBytes(100 * 1024 * 1024);
    writeFileSync(file, data);
    const want = createHash('sha256').update(data).digest('hex');
    const baseline = rssBytes(waypointPid);
    const sampler = sampleRss(waypointPid);
    const up = await curl(['--max-time', '120', '-T', file, 'http://svc/upload'], 150_000);
    assert.equal(up.code, 0, up.stderr);
    assert.equal((JSON.parse(up.stdout) as { sha256: string }).sha256, want, 'uploaded bytes hash as sent');
    const out = join(work, 'download.bin');
    const id = randomBytes(4).toString('hex');
    const down = await curl(['--max-time', '120', '-o', out, `http://svc/download?mib=100&id=${id}`], 150_000);
    const peak = sampler.stop();
    assert.equal(down.code, 0, down.stderr);
    const got = createHash('sha256').update(readFileSync(out)).digest('hex');
    const logged = await eventually(() => {
      const line = ['svc-v1', 'svc-v2'].flatMap((p) => k.podLog(NS, p, 'http').split('\n')).find((l) => l.startsWith(`download ${id} `));
      assert.ok(line, 'the backend logged the download');
      return line.split(' ');
    });
    assert.equal(logged[3], got, 'downloaded bytes hash as sent');
    assert.equal(Number(logged[4]), 100 * 1024 * 1024);
    t.diagnostic(`waypoint RSS ${(baseline / 1e6).toFixed(1)} MB before, peak ${(peak / 1e6).toFixed(1)} MB`);
    assert.ok(peak - baseline < 30e6, `waypoint RSS grew by ${((peak - baseline) / 1e6).toFixed(1)} MB`);
    rmSync(file);
    rmSync(out);
  });

  test('a WebSocket echo through the waypoint', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const r = await k.appJson<{ opened: boolean; echoes: string[]; closeCode: number; error?: string }>(NS, 'client', 'ws-client.mjs', [
      'ws://svc/ws',
      'one',
      'two',
      'x'.repeat(70_000),
    ]);
    assert.equal(r.error, undefined);
    assert.deepEqual([r.opened, r.echoes.length, r.closeCode], [true, 3, 1000]);
    assert.deepEqual(r.echoes.slice(0, 2), ['one', 'two']);
    assert.equal(r.echoes[2]?.length, 70_000);
  });

  test('TCP: nc to a port declared tcp passes through, counted in istio_tcp_*{reporter="waypoint"}', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    const input = 'through the waypoint as TCP\n';
    const r = await k.exec(NS, 'client', ['nc', '-N', '-w', '5', 'svc', '9000'], { input });
    assert.match(r.stdout, new RegExp(`^hello from svc-v[12]\\n${input}$`), r.stderr);
    await eventually(async () => {
      const m = parseMetrics((await k.waypointMetrics(NS, wp().name)).text);
      assert.ok(sumOf(m, 'istio_tcp_connections_opened_total', { reporter: 'waypoint' }) >= 1);
      assert.ok(sumOf(m, 'istio_tcp_connections_closed_total', { reporter: 'waypoint' }) >= 1);
      assert.ok(sumOf(m, 'istio_tcp_received_bytes_total', { reporter: 'waypoint' }) >= input.length);
      assert.ok(sumOf(m, 'istio_tcp_sent_bytes_total', { reporter: 'waypoint' }) >= input.length + 'hello from svc-v1\n'.length);
    });
  });

  test('Prometheus sees exact istio_requests_total{reporter="waypoint"} counts; the dashboard queries what a waypoint exports', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    await telemetryChecks(t, { driver: k, ns: NS, waypoint: wp(), work, curl });
  });

  test('bad input: 400, 431, header timeout, smuggling, 1 000 streams on one tunnel; other connections unaffected', async (t) => {
    if (!requirePrivileges(t, NEEDS)) return;
    assert.ok(waypoint, 'the waypoint is not up: the first test of this file failed');
    await badInputChecks(t, { driver: k, ns: NS, waypoint: wp(), work, svcVip: vip('svc') });
    assert.equal(await k.waypointPid(NS, wp().name), waypointPid, 'the waypoint process never restarted');
  });
});
