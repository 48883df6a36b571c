import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  emptyMatch,
  silentLogger,
  type Authorization,
  type Service,
  type Workload,
} from '@ambit/core';
import { encodeAddress, encodeAuthorization } from '@ambit/core/codec';
import { canRunNetnsTests, createNetnsFixture, eventually, makeSocketDir, type NetnsFixture, type SocketDir } from '@ambit/core/testing';
import { startFakeCa, type FakeCa } from '@ambit/core/testing/fake-ca';
import { createFakeXdsServer, type FakeXdsServer } from '@ambit/core/testing/fake-xds-server';
import { encodeZds, lineReader, parseZtunnelMessage, type ZdsPod, type ZdsZtunnelMessage } from '@ambit/core/zds';
import { startZtunnel, type Ztunnel } from '@ambit/ztunnel';
import { installCaptureRules } from '../../cni/src/agent/capture-rules.ts';
import { Ajv } from 'ajv';
import { REPO } from './helpers/ambitctl.ts';

// One ztunnel, in process, serving two captured pods in real network namespaces, against a fake controller (xDS),
// a fake CA and a stand-in node agent: the data path of DESIGN §3 without the rest of the cluster.
//   a (10.90.1.1, 10.90.2.1) — mesh, client and plaintext target
//   b (10.90.1.2)            — mesh, server
//   c (10.90.2.3)            — outside the mesh
const A1 = '10.90.1.1';
const A2 = '10.90.2.1';
const B = '10.90.1.2';
const C = '10.90.2.3';
const VIP = '10.96.7.7';
const TD = 'cluster.local';

function workload(name: string, addresses: string[], sa: string, extra: Partial<Workload> = {}): Workload {
  return {
    uid: `Kubernetes//Pod/t/${name}`,
    name,
    namespace: 't',
    addresses,
    hostname: '',
    network: '',
    tunnelProtocol: 'HBONE',
    trustDomain: TD,
    serviceAccount: sa,
    node: 'n1',
    canonicalName: name,
    canonicalRevision: 'latest',
    workloadType: 'POD',
    workloadName: name,
    services: {},
    authorizationPolicies: [],
    status: 'HEALTHY',
    clusterId: 'Kubernetes',
    ...extra,
  };
}

const svc: Service = {
  name: 'echo',
  namespace: 't',
  hostname: 'echo.t.svc.cluster.local',
  addresses: [{ network: '', address: VIP }],
  ports: [{ servicePort: 80, targetPort: 7000, appProtocol: 'TCP' }],
  subjectAltNames: [],
};

const strict: Authorization = {
  name: 'strict',
  namespace: 't',
  scope: 'NAMESPACE',
  action: 'DENY',
  rules: [{ clauses: [{ matches: [{ ...emptyMatch(), notPrincipals: [{ presence: true }] }] }] }],
  dryRun: false,
};

const ECHO_APP = `const s=require('net').createServer({allowHalfOpen:true},c=>{c.write('from '+process.argv[1]+' peer '+c.remoteAddress.replace(/^::ffff:/,'')+'\\n');c.pipe(c);c.on('error',()=>c.destroy())});s.listen(7000,()=>console.log('up'))`;

describe('ztunnel data path (fake controller, real namespaces)', { concurrency: false }, () => {
  let ns: NetnsFixture | undefined;
  let dir: SocketDir | undefined;
  let xds: FakeXdsServer | undefined;
  let ca: FakeCa | undefined;
  let agent: Server | undefined;
  let zt: Ztunnel | undefined;
  const apps: ChildProcess[] = [];
  const acks: ZdsZtunnelMessage[] = [];
  // Acks that arrived before the fake controller sent its first config: a pod is taken on only once ztunnel has it.
  let configSent = false;
  let acksBeforeConfig = 0;
  let agentConn: Socket | undefined;
  let ports: Readonly<Record<string, string>> = {};
  let readinessBeforeConfig: { status: number; body: string } | undefined;
  let quitRequested = false;

  async function get(server: string, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://${ports[server] ?? 'missing'}${path}`, { method });
    return { status: res.status, body: await res.text() };
  }

  /** The value of one sample of the ztunnel's metrics (0 when absent). */
  async function sample(name: string, labels: Record<string, string>): Promise<number> {
    const text = (await get('metrics', '/metrics')).body;
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').at(-1));
    }
    return total;
  }

  function sendAddresses(extraAuth: Authorization[] = []): void {
    const stream = xds?.streams.at(-1);
    assert.ok(stream, 'ztunnel opened an xDS stream');
    const a = workload('a', [A1, A2], 'sa-a');
    const b = workload('b', [B], 'sa-b', {
      services: { 't/echo.t.svc.cluster.local': [{ servicePort: 80, targetPort: 7000, appProtocol: 'TCP' }] },
    });
    stream.send(ADDRESS_TYPE_URL, [
      { name: a.uid, body: encodeAddress({ workload: a }) },
      { name: b.uid, body: encodeAddress({ workload: b }) },
      { name: 't/echo.t.svc.cluster.local', body: encodeAddress({ service: svc }) },
    ]);
    stream.send(
      AUTHORIZATION_TYPE_URL,
      extraAuth.map((p) => ({ name: `${p.namespace}/${p.name}`, body: encodeAuthorization(p) })),
    );
  }

  async function nc(from: string, host: string, port: number, input: string): Promise<{ code: number; stdout: string }> {
    const r = await ns!.run(from, ['nc', '-N', '-w', '3', host, String(port)], input);
    return { code: r.code, stdout: r.stdout };
  }

  before(async () => {
    if (process.getuid?.() !== 0) return;
    ns = createNetnsFixture('tzp');
    for (const n of ['a', 'b', 'c']) ns.add(n);
    ns.link('a', `${A1}/24`, 'b', `${B}/24`);
    ns.link('a', `${A2}/24`, 'c', `${C}/24`);
    // The VIP is routed out of a like any off-pod address (a kube-proxy would DNAT it; ztunnel resolves it first).
    ns.exec('a', ['ip', 'route', 'add', `${VIP}/32`, 'via', B]);
    for (const n of ['a', 'b']) await installCaptureRules(ns.name(n));
    for (const n of ['a', 'b', 'c']) {
      const p = spawn('ip', ['netns', 'exec', ns.name(n), process.execPath, '-e', ECHO_APP, n], { stdio: ['ignore', 'pipe', 'inherit'] });
      apps.push(p);
      await new Promise<void>((resolve) => p.stdout?.once('data', () => resolve()));
    }
    dir = makeSocketDir('ambit-zt-pair-');
    xds = await createFakeXdsServer({ socketPath: dir.path('xds.sock') });
    ca = await startFakeCa({ listen: { path: dir.path('ca.sock') }, tokens: ['node-token'] });
    writeFileSync(dir.path('token'), 'node-token\n');
    const pods: ZdsPod[] = [
      { uid: 'uid-a', name: 'a', namespace: 't', serviceAccount: 'sa-a', netns: ns.path('a'), ips: [A1, A2] },
      { uid: 'uid-b', name: 'b', namespace: 't', serviceAccount: 'sa-b', netns: ns.path('b'), ips: [B] },
    ];
    agent = createServer((conn) => {
      agentConn = conn;
      conn.on(
        'data',
        lineReader(
          (line) => {
            const msg = parseZtunnelMessage(line);
            acks.push(msg);
            if (msg.type === 'ack' && !configSent) acksBeforeConfig++;
            if (msg.type === 'hello') {
              pods.forEach((pod, i) => conn.write(encodeZds({ type: 'add', id: i + 1, pod })));
              conn.write(encodeZds({ type: 'snapshot-sent', id: 100 }));
            }
          },
          () => conn.destroy(),
        ),
      );
    });
    await new Promise<void>((resolve) => agent!.listen(dir!.path('agent.sock'), resolve));
    zt = startZtunnel({
      node: 'n1',
      controllerTarget: xds.address,
      caTarget: ca.target,
      tokenFile: dir.path('token'),
      agentSocket: dir.path('agent.sock'),
      trustDomain: TD,
      // The test process is in the host namespace: its own ports on loopback only, ephemeral.
      metricsListen: { host: '127.0.0.1', port: 0 },
      readinessListen: { host: '127.0.0.1', port: 0 },
      adminListen: { host: '127.0.0.1', port: 0 },
      onQuit: () => (quitRequested = true),
      log: silentLogger(),
    });
    ports = await eventually(async () => {
      const l = await zt!.listening();
      assert.ok(l['metrics'] !== undefined && l['readiness'] !== undefined && l['admin'] !== undefined);
      return l;
    });
    await eventually(() => assert.ok(xds!.streams.length > 0));
    readinessBeforeConfig = await get('readiness', '/healthz/ready');
    // The agent's adds are out: a ztunnel without config must not take the pods on (ack them) in the next 500 ms,
    // which is many times what taking them on takes without the wait for config.
    await eventually(() => assert.ok(acks.some((m) => m.type === 'hello')));
    await new Promise((resolve) => setTimeout(resolve, 500));
    configSent = true;
    sendAddresses();
    await eventually(() => assert.ok(zt!.ready(), 'ztunnel ready'), 10_000);
  });

  after(async () => {
    await zt?.shutdown(0);
    agentConn?.destroy();
    await new Promise<void>((resolve) => (agent ? agent.close(() => resolve()) : resolve()));
    await xds?.close();
    await ca?.close();
    for (const p of apps) if (p.pid !== undefined && p.exitCode === null) p.kill('SIGKILL');
    ns?.cleanup();
    dir?.remove();
  });

  it('acks every agent message and serves both pods', async (t) => {
    if (!canRunNetnsTests(t)) return;
    // ztunnel is ready once it has applied the snapshot; its last acks may still be on their way over the socket.
    await eventually(() => {
      const ids = acks.filter((m) => m.type === 'ack').map((m) => (m.type === 'ack' ? m.id : -1));
      assert.deepEqual(
        ids.sort((x, y) => x - y),
        [1, 2, 100],
      );
    });
    assert.ok(acks.every((m) => m.type !== 'ack' || m.error === undefined));
    assert.equal(acksBeforeConfig, 0, 'pods are acked (their apps start) only once ztunnel has its first config');
    assert.deepEqual(
      zt!.pods
        .pods()
        .map((p) => p.identity)
        .sort(),
      [`spiffe://${TD}/ns/t/sa/sa-a`, `spiffe://${TD}/ns/t/sa/sa-b`],
    );
    assert.deepEqual([...ca!.requested].sort(), [`spiffe://${TD}/ns/t/sa/sa-a`, `spiffe://${TD}/ns/t/sa/sa-b`]);
  });

  it("carries a → b by pod IP over HBONE; b sees a's address", async (t) => {
    if (!canRunNetnsTests(t)) return;
    const r = await nc('a', B, 7000, 'marker-123\n');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `from b peer ${A1}\nmarker-123\n`);
    assert.ok(
      zt!.pods
        .pods()
        .find((p) => p.info.name === 'a')!
        .pool.stats().sessions >= 1,
      'the tunnel is pooled',
    );
  });

  it('load-balances a Service VIP to its endpoint', async (t) => {
    if (!canRunNetnsTests(t)) return;
    const r = await nc('a', VIP, 80, 'via-vip\n');
    assert.equal(r.stdout, `from b peer ${A1}\nvia-vip\n`);
  });

  it('passes a connection to a non-mesh address through as plain TCP', async (t) => {
    if (!canRunNetnsTests(t)) return;
    const r = await nc('a', C, 7000, 'plain\n');
    assert.equal(r.stdout, `from c peer ${A2}\nplain\n`);
  });

  it('accepts plaintext from outside the mesh under PERMISSIVE, refuses it under STRICT', async (t) => {
    if (!canRunNetnsTests(t)) return;
    const ok = await nc('c', A2, 7000, 'permissive\n');
    assert.equal(ok.stdout, `from a peer ${C}\npermissive\n`);
    sendAddresses([strict]);
    await eventually(() => assert.equal(zt!.state.authorizations().length, 1));
    const refused = await nc('c', A2, 7000, 'strict\n');
    assert.equal(refused.stdout, '', 'no byte of the app reaches a refused client');
    // HBONE still works under STRICT: a → b carries a client certificate.
    const mtls = await nc('a', B, 7000, 'mtls\n');
    assert.equal(mtls.stdout, `from b peer ${A1}\nmtls\n`);
    xds!.streams.at(-1)!.send(AUTHORIZATION_TYPE_URL, [], ['t/strict']);
    await eventually(() => assert.equal(zt!.state.authorizations().length, 0));
    const again = await nc('c', A2, 7000, 'permissive again\n');
    assert.equal(again.stdout, `from a peer ${C}\npermissive again\n`);
  });

  it('refuses a Service with no healthy endpoint at once', async (t) => {
    if (!canRunNetnsTests(t)) return;
    const stream = xds!.streams.at(-1)!;
    const b = workload('b', [B], 'sa-b', {
      status: 'UNHEALTHY',
      services: { 't/echo.t.svc.cluster.local': [{ servicePort: 80, targetPort: 7000, appProtocol: 'TCP' }] },
    });
    stream.send(ADDRESS_TYPE_URL, [{ name: b.uid, body: encodeAddress({ workload: b }) }]);
    await eventually(() => assert.equal(zt!.state.workloadByIp(B)?.status, 'UNHEALTHY'));
    const started = performance.now();
    const r = await nc('a', VIP, 80, 'nobody\n');
    assert.equal(r.stdout, '');
    assert.ok(performance.now() - started < 1000, 'refused at once, not after a timeout');
    sendAddresses();
    await eventually(() => assert.equal(zt!.state.workloadByIp(B)?.status, 'HEALTHY'));
  });

  it('readiness: 500 with what is pending until config sync, then ready; not ready while the node agent is away', async (t) => {
    if (!canRunNetnsTests(t)) return;
    assert.equal(readinessBeforeConfig?.status, 500);
    assert.match(readinessBeforeConfig?.body ?? '', /^not ready, pending: .*config sync/);
    assert.deepEqual(await get('readiness', '/healthz/ready'), { status: 200, body: 'ready\n' });
    // The agent goes away (its server stops and the connection drops), then comes back.
    const closed = new Promise<void>((resolve) => agent!.close(() => resolve()));
    agentConn?.destroy();
    await closed;
    await eventually(async () =>
      assert.deepEqual(await get('readiness', '/healthz/ready'), { status: 500, body: 'not ready, pending: node agent\n' }),
    );
    await new Promise<void>((resolve) => agent!.listen(dir!.path('agent.sock'), resolve));
    await eventually(async () => assert.equal((await get('readiness', '/healthz/ready')).status, 200), 8000);
  });

  it('config_dump matches the schema in the repo and shows workloads, pods and certificates', async (t) => {
    if (!canRunNetnsTests(t)) return;
    const dump = JSON.parse((await get('admin', '/config_dump')).body) as Record<string, unknown>;
    const schema = JSON.parse(readFileSync(join(REPO, 'ztunnel', 'schema', 'config-dump.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    assert.ok(validate(dump), JSON.stringify(validate.errors, null, 2));
    const certs = dump['certificates'] as Array<{ identity: string; state: string; certChain: unknown[] }>;
    for (const sa of ['sa-a', 'sa-b']) {
      const c = certs.find((x) => x.identity === `spiffe://${TD}/ns/t/sa/${sa}`);
      assert.equal(c?.state, 'Available');
      assert.equal(c?.certChain.length, 1);
    }
    assert.deepEqual(Object.keys(dump['workloadState'] as object).sort(), ['uid-a', 'uid-b']);
    assert.deepEqual((dump['workloads'] as Array<{ name: string }>).map((w) => w.name).sort(), ['a', 'b']);
  });

  it('admin: /logging reads and changes the level; /quitquitquit asks for a graceful shutdown', async (t) => {
    if (!canRunNetnsTests(t)) return;
    assert.deepEqual(JSON.parse((await get('admin', '/logging')).body), { level: 'silent' });
    assert.deepEqual(JSON.parse((await get('admin', '/logging?level=debug', 'POST')).body), { level: 'debug' });
    assert.equal((await get('admin', '/logging?level=loud', 'POST')).status, 400);
    await get('admin', '/logging?level=silent', 'POST');
    assert.equal((await get('admin', '/quitquitquit', 'POST')).status, 200);
    assert.equal(quitRequested, true);
  });

  it('metrics: both reporters count connections with Istio labels; byte counters rise while a connection is open', async (t) => {
    if (!canRunNetnsTests(t)) return;
    const pair = { source_workload: 'a', destination_workload: 'b', connection_security_policy: 'mutual_tls' };
    const before = await sample('istio_tcp_connections_opened_total', { ...pair, reporter: 'destination' });
    const held = spawn('ip', ['netns', 'exec', ns!.name('a'), 'nc', B, '7000'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    held.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      held.stdin.write(`${'x'.repeat(999)}\n`);
      await eventually(() => assert.ok(out.length > 1000));
      const recv1 = await sample('istio_tcp_received_bytes_total', { ...pair, reporter: 'destination' });
      held.stdin.write(`${'y'.repeat(4999)}\n`);
      await eventually(() => assert.ok(out.length > 6000));
      const recv2 = await sample('istio_tcp_received_bytes_total', { ...pair, reporter: 'destination' });
      assert.ok(recv2 - recv1 >= 5000, `received bytes rose by ${recv2 - recv1} while the connection stayed open`);
      const sent = await sample('istio_tcp_sent_bytes_total', { ...pair, reporter: 'source' });
      assert.ok(sent >= 6000, `source reporter sent ${sent}`);
    } finally {
      held.kill();
    }
    await eventually(async () =>
      assert.ok((await sample('istio_tcp_connections_opened_total', { ...pair, reporter: 'destination' })) > before),
    );
    assert.ok(
      (await sample('istio_tcp_connections_opened_total', {
        ...pair,
        reporter: 'source',
        source_principal: `spiffe://${TD}/ns/t/sa/sa-a`,
      })) >= 1,
    );
    const text = (await get('metrics', '/stats/prometheus')).body;
    assert.match(text, /^ambit_ztunnel_enrolled_pods 2$/m);
    assert.match(text, /^ambit_ztunnel_certificate_expiry_timestamp_seconds\{identity="spiffe:\/\/cluster.local\/ns\/t\/sa\/sa-a"\} \d+$/m);
    assert.match(text, /^process_cpu_seconds_total /m);
    assert.doesNotMatch(text, /10\.90\.|:7000"/, 'no addresses or ports in label values');
  });

  it('releases a pod on del: its listeners close', async (t) => {
    if (!canRunNetnsTests(t)) return;
    agentConn!.write(encodeZds({ type: 'del', id: 200, uid: 'uid-b' }));
    await eventually(() => assert.ok(acks.some((m) => m.type === 'ack' && m.id === 200)));
    const listening = ns!.exec('b', ['ss', '-Htln']);
    for (const port of [15001, 15006, 15008]) assert.ok(!listening.includes(`:${port} `), `port ${port} closed in b:\n${listening}`);
  });

  it('shutdown (SIGTERM) stops accepting, lets open connections run until the deadline, then closes them', async (t) => {
    if (!canRunNetnsTests(t)) return;
    const nc1 = spawn('ip', ['netns', 'exec', ns!.name('a'), 'nc', C, '7000'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    nc1.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => nc1.once('exit', (code) => resolve(code)));
    nc1.stdin.write('one\n');
    await eventually(() => assert.match(out, /one\n$/));
    const startedMs = Date.now();
    const done = zt!.shutdown(1500);
    await eventually(async () => assert.equal((await nc('a', C, 7000, 'new\n')).stdout, '', 'new connections are refused while draining'));
    nc1.stdin.write('two\n');
    await eventually(() => assert.match(out, /two\n$/), 1000);
    await done;
    assert.ok(Date.now() - startedMs >= 1400, 'the open connection was given the drain deadline');
    const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 3000))]);
    assert.notEqual(code, 'still running', 'the drained connection was closed at the deadline');
    zt = undefined;
  });
});
