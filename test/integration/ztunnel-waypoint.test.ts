import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  emptyMatch,
  silentLogger,
  createLogger,
  type Authorization,
  type GatewayAddress,
  type Service,
  type Workload,
} from '@ambit/core';
import { encodeAddress, encodeAuthorization, type AddressResource } from '@ambit/core/codec';
import { canRunNetnsTests, createNetnsFixture, eventually, makeSocketDir, type NetnsFixture, type SocketDir } from '@ambit/core/testing';
import { startFakeCa, type FakeCa } from '@ambit/core/testing/fake-ca';
import { createFakeXdsServer, type FakeXdsServer } from '@ambit/core/testing/fake-xds-server';
import { encodeZds, lineReader, parseZtunnelMessage, type ZdsPod } from '@ambit/core/zds';
import { startZtunnel, type Ztunnel } from '@ambit/ztunnel';
import { installCaptureRules } from '../../cni/src/agent/capture-rules.ts';
import { REPO } from './helpers/ambitctl.ts';

// Contract 5 on ztunnel's side, in process against a fake controller and CA: a client pod's traffic to a destination
// that names a waypoint goes over HBONE to the waypoint pod (a stand-in that terminates HBONE in its own, uncaptured
// namespace and carries the bytes on to the endpoint over HBONE with its own certificate), with the original
// destination as :authority and the client's identity; the destination ztunnel sees the waypoint as the peer.
//   a (10.91.1.1 to b, 10.91.2.1 to w) — mesh client
//   b (10.91.1.2; 10.91.3.2 to w)      — mesh server (echo on 7000)
//   w (10.91.2.3; 10.91.3.3 to b)      — the waypoint pod, dataplane-mode none: not captured
const A = '10.91.1.1';
const B = '10.91.1.2';
const W = '10.91.2.3';
const VIP = '10.96.8.7';
const WP_VIP = '10.96.8.9';
const TD = 'cluster.local';
const id = (sa: string): string => `spiffe://${TD}/ns/t/sa/${sa}`;
const WP_HOST = 'waypoint.t.svc.cluster.local';
const viaWaypoint: GatewayAddress = { destination: { kind: 'hostname', namespace: 't', hostname: WP_HOST }, hboneMtlsPort: 15008 };

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

const echoPorts = { 't/echo.t.svc.cluster.local': [{ servicePort: 80, targetPort: 7000, appProtocol: 'TCP' as const }] };
const a = workload('a', [A, '10.91.2.1'], 'sa-a');
const b = workload('b', [B], 'sa-b', { services: echoPorts });
// Both of the waypoint pod's addresses (toward a, toward b) are its own, so b's ztunnel knows the peer workload too.
const w = workload('waypoint', [W, '10.91.3.3'], 'waypoint', {
  services: { [`t/${WP_HOST}`]: [{ servicePort: 15008, targetPort: 15008, appProtocol: 'UNKNOWN' }] },
});
const wpService: Service = {
  name: 'waypoint',
  namespace: 't',
  hostname: WP_HOST,
  addresses: [{ network: '', address: WP_VIP }],
  ports: [{ servicePort: 15008, targetPort: 15008, appProtocol: 'UNKNOWN' }],
  subjectAltNames: [],
};
const echo: Service = {
  name: 'echo',
  namespace: 't',
  hostname: 'echo.t.svc.cluster.local',
  addresses: [{ network: '', address: VIP }],
  ports: [{ servicePort: 80, targetPort: 7000, appProtocol: 'TCP' }],
  subjectAltNames: [],
};
// Only the waypoint may connect to pods of namespace t: what a user writes once L7 policy lives in the waypoint.
const onlyWaypoint: Authorization = {
  name: 'only-waypoint',
  namespace: 't',
  scope: 'NAMESPACE',
  action: 'ALLOW',
  rules: [{ clauses: [{ matches: [{ ...emptyMatch(), principals: [{ exact: `${TD}/ns/t/sa/waypoint` }] }] }] }],
  dryRun: false,
};

const ECHO_APP = `const s=require('net').createServer({allowHalfOpen:true},c=>{c.write('from '+process.argv[1]+'\\n');c.pipe(c);c.on('error',()=>c.destroy())});s.listen(7000,()=>console.log('up'))`;

describe('ztunnel → waypoint (fake controller, real namespaces)', { concurrency: false }, () => {
  let ns: NetnsFixture | undefined;
  let dir: SocketDir | undefined;
  let xds: FakeXdsServer | undefined;
  let ca: FakeCa | undefined;
  let agent: Server | undefined;
  let agentConn: Socket | undefined;
  let zt: Ztunnel | undefined;
  let metricsAddr = '';
  const procs: ChildProcess[] = [];
  /** The stand-in waypoint's record of each tunnel it terminated. */
  const tunnels: Array<{ authority: string; peer: string }> = [];

  function send(resources: AddressResource[]): void {
    const stream = xds?.streams.at(-1);
    assert.ok(stream, 'ztunnel opened an xDS stream');
    stream.send(
      ADDRESS_TYPE_URL,
      resources.map((r) => ({
        name: 'workload' in r ? r.workload.uid : `${r.service.namespace}/${r.service.hostname}`,
        body: encodeAddress(r),
      })),
    );
  }

  async function nc(host: string, port: number, input: string): Promise<string> {
    return (await ns!.run('a', ['nc', '-N', '-w', '3', host, String(port)], input)).stdout;
  }

  async function sample(name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(`http://${metricsAddr}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').at(-1));
    }
    return total;
  }

  function spawnReady(argv: string[]): Promise<ChildProcess> {
    const [cmd, ...args] = argv as [string, ...string[]];
    const p = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(p);
    return new Promise((resolve, reject) => {
      p.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
      p.stdout?.once('data', () => resolve(p));
    });
  }

  before(async () => {
    if (process.getuid?.() !== 0) return;
    ns = createNetnsFixture('tzw');
    for (const n of ['a', 'b', 'w']) ns.add(n);
    ns.link('a', `${A}/24`, 'b', `${B}/24`);
    ns.link('a', '10.91.2.1/24', 'w', `${W}/24`);
    ns.link('w', '10.91.3.3/24', 'b', '10.91.3.2/24');
    // The waypoint reaches b's pod IP over its own link; the VIPs are routed out of a like any off-pod address.
    ns.exec('w', ['ip', 'route', 'add', `${B}/32`, 'via', '10.91.3.2']);
    ns.exec('b', ['ip', 'route', 'add', `${W}/32`, 'via', '10.91.3.3']);
    for (const vip of [VIP, WP_VIP]) ns.exec('a', ['ip', 'route', 'add', `${vip}/32`, 'via', B]);
    for (const n of ['a', 'b']) await installCaptureRules(ns.name(n));
    await spawnReady(['ip', 'netns', 'exec', ns.name('b'), process.execPath, '-e', ECHO_APP, 'b']);
    dir = makeSocketDir('ambit-zt-wp-');
    xds = await createFakeXdsServer({ socketPath: dir.path('xds.sock') });
    ca = await startFakeCa({ listen: { path: dir.path('ca.sock') }, tokens: ['node-token'] });
    writeFileSync(dir.path('token'), 'node-token\n');
    // The waypoint: its own process in its own namespace, its own certificate.
    const wp = await spawnReady([
      'ip',
      'netns',
      'exec',
      ns.name('w'),
      process.execPath,
      '--import',
      'tsx',
      join(REPO, 'ztunnel', 'testing', 'l4-waypoint.ts'),
      W,
      ca.target,
      'node-token',
      id('waypoint'),
      JSON.stringify({ [`${VIP}:80`]: `${B}:7000` }),
      JSON.stringify({ [B]: id('sa-b') }),
    ]);
    wp.stdout?.on(
      'data',
      lineReader(
        (line) => {
          if (line.startsWith('{')) tunnels.push(JSON.parse(line) as { authority: string; peer: string });
        },
        () => undefined,
      ),
    );
    const pods: ZdsPod[] = [
      { uid: 'uid-a', name: 'a', namespace: 't', serviceAccount: 'sa-a', netns: ns.path('a'), ips: a.addresses },
      { uid: 'uid-b', name: 'b', namespace: 't', serviceAccount: 'sa-b', netns: ns.path('b'), ips: [B] },
    ];
    agent = createServer((conn) => {
      agentConn = conn;
      conn.on(
        'data',
        lineReader(
          (line) => {
            if (parseZtunnelMessage(line).type !== 'hello') return;
            pods.forEach((pod, i) => conn.write(encodeZds({ type: 'add', id: i + 1, pod })));
            conn.write(encodeZds({ type: 'snapshot-sent', id: 100 }));
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
      metricsListen: { host: '127.0.0.1', port: 0 },
      readinessListen: { host: '127.0.0.1', port: 0 },
      adminListen: { host: '127.0.0.1', port: 0 },
      log: process.env['DEBUG_WP'] ? createLogger('zt', { level: 'debug' }) : silentLogger(),
    });
    metricsAddr = await eventually(async () => {
      const l = await zt!.listening();
      assert.ok(l['metrics'] !== undefined);
      return l['metrics'];
    });
    await eventually(() => assert.ok(xds!.streams.length > 0));
    send([{ workload: a }, { workload: b }, { workload: w }, { service: wpService }, { service: echo }]);
    xds.streams.at(-1)!.send(AUTHORIZATION_TYPE_URL, []);
    await eventually(() => assert.ok(zt!.ready(), 'ztunnel ready'), 10_000);
  });

  after(async () => {
    await zt?.shutdown(0);
    agentConn?.destroy();
    await new Promise<void>((resolve) => (agent ? agent.close(() => resolve()) : resolve()));
    await xds?.close();
    await ca?.close();
    for (const p of procs) if (p.pid !== undefined && p.exitCode === null) p.kill('SIGKILL');
    ns?.cleanup();
    dir?.remove();
  });

  it('a Service without a waypoint goes straight to its endpoint', async (t) => {
    if (!canRunNetnsTests(t)) return;
    assert.equal(await nc(VIP, 80, 'direct\n'), 'from b\ndirect\n');
    assert.deepEqual(tunnels, []);
  });

  it("once the Service names a waypoint, new connections go through it: :authority the VIP, the client's identity", async (t) => {
    if (!canRunNetnsTests(t)) return;
    send([{ service: { ...echo, waypoint: viaWaypoint } }]);
    await eventually(() => assert.ok(zt!.state.serviceByVip(VIP)?.waypoint));
    assert.equal(await nc(VIP, 80, 'via waypoint\n'), 'from b\nvia waypoint\n');
    assert.deepEqual(tunnels, [{ authority: `${VIP}:80`, peer: id('sa-a') }]);
    // Source: the connection goes to the waypoint workload, for the Service (Istio's ztunnel labels it so).
    // Destination: b's ztunnel saw the waypoint as the peer.
    await eventually(async () => {
      assert.ok(
        (await sample('istio_tcp_connections_closed_total', {
          reporter: 'source',
          source_workload: 'a',
          destination_workload: 'waypoint',
          destination_principal: id('waypoint'),
          destination_service: 'echo.t.svc.cluster.local',
        })) >= 1,
      );
      assert.ok(
        (await sample('istio_tcp_connections_opened_total', {
          reporter: 'destination',
          source_principal: id('waypoint'),
          source_workload: 'waypoint',
          destination_workload: 'b',
        })) >= 1,
      );
    });
  });

  it("the destination's L4 policy sees the waypoint: allowing only the waypoint admits Service traffic, refuses direct", async (t) => {
    if (!canRunNetnsTests(t)) return;
    xds!.streams.at(-1)!.send(AUTHORIZATION_TYPE_URL, [{ name: 't/only-waypoint', body: encodeAuthorization(onlyWaypoint) }]);
    await eventually(() => assert.equal(zt!.state.authorizations().length, 1));
    assert.equal(await nc(VIP, 80, 'allowed\n'), 'from b\nallowed\n');
    assert.equal(await nc(B, 7000, 'denied\n'), '', 'a straight to b is not the waypoint: denied');
    xds!.streams.at(-1)!.send(AUTHORIZATION_TYPE_URL, [], ['t/only-waypoint']);
    await eventually(() => assert.equal(zt!.state.authorizations().length, 0));
  });

  it('a pod-IP destination whose workload names a waypoint goes through it with :authority podIP:port', async (t) => {
    if (!canRunNetnsTests(t)) return;
    tunnels.length = 0;
    send([{ workload: { ...b, waypoint: viaWaypoint } }]);
    await eventually(() => assert.ok(zt!.state.workloadByIp(B)?.waypoint));
    assert.equal(await nc(B, 7000, 'pod\n'), 'from b\npod\n');
    assert.deepEqual(tunnels, [{ authority: `${B}:7000`, peer: id('sa-a') }]);
    send([{ workload: b }]);
    await eventually(() => assert.equal(zt!.state.workloadByIp(B)?.waypoint, undefined));
  });

  it('no ready waypoint pod: refused at once, never sent around the waypoint', async (t) => {
    if (!canRunNetnsTests(t)) return;
    tunnels.length = 0;
    send([{ workload: { ...w, status: 'UNHEALTHY' } }]);
    await eventually(() => assert.equal(zt!.state.workloadByIp(W)?.status, 'UNHEALTHY'));
    const before = await sample('ambit_ztunnel_errors_total', { code: 'no_healthy_waypoint' });
    const started = performance.now();
    assert.equal(await nc(VIP, 80, 'nobody\n'), '');
    assert.ok(performance.now() - started < 1000, 'refused at once, not after a timeout');
    assert.deepEqual(tunnels, []);
    assert.equal(await sample('ambit_ztunnel_errors_total', { code: 'no_healthy_waypoint' }), before + 1);
    send([{ workload: w }]);
    await eventually(() => assert.equal(zt!.state.workloadByIp(W)?.status, 'HEALTHY'));
    assert.equal(await nc(VIP, 80, 'back\n'), 'from b\nback\n');
  });
});
