import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { clusterPaths } from '@ambit/local';
import { ambitctl, ambitctlOk, downAndCheckClean, fixtureCopy, type PodInfo, podNetns, pods, run } from './helpers/ambitctl.ts';
import { componentLog, componentPid } from './helpers/mesh-components.ts';
import { nodeCa } from './helpers/node-ca.ts';

// Issue 4 acceptance on a 2-node local cluster with the whole mesh running: controller, and on each node the node
// agent, the ambit-cni plugin and ztunnel. Clients are unmodified (nc, node scripts) inside pods. Certificates live
// 20 s, so every test here also runs across certificate rotations.
const CLUSTER = 'it-mesh';
const paths = clusterPaths(CLUSTER);
const TD = 'spiffe://cluster.local';
const NEEDS = {
  root: true,
  executables: [
    '/usr/lib/cni/bridge',
    '/usr/sbin/nft',
    '/usr/bin/nc',
    '/usr/bin/tcpdump',
    '/usr/bin/tshark',
    '/usr/bin/kubectl',
    '/usr/bin/ss',
  ],
};

let dir = '';
let work = '';
let ready = false;
const podIp = new Map<string, PodInfo>();

function ip(nsName: string): string {
  const p = podIp.get(nsName);
  assert.ok(p, `pod ${nsName} is known`);
  return p.ip;
}

/** Runs a command inside a pod; resolves with its output whatever the exit code. */
function inPod(ns: string, pod: string, argv: readonly string[], input?: string, timeoutMs = 60_000) {
  return ambitctl(CLUSTER, ['local', 'exec', '-n', ns, pod, '--', ...argv], { timeoutMs, ...(input !== undefined && { input }) });
}

/** `nc -N` from a pod: sends `input`, half-closes, prints the reply. */
function nc(ns: string, pod: string, host: string, port: number, input: string) {
  return inPod(ns, pod, ['nc', '-N', '-w', '5', host, String(port)], input);
}

function kubectl(args: readonly string[]) {
  return run(['kubectl', '--kubeconfig', paths.kubeconfig, ...args]);
}

function logOf(component: 'ztunnel' | 'node-agent', node: string): string {
  return componentLog(paths, component, node);
}

/** Inbound access lines (JSON) the node's ztunnel wrote. */
function inboundRecords(node: string): Array<Record<string, unknown>> {
  return logOf('ztunnel', node)
    .split('\n')
    .filter((l) => l.includes('"direction":"inbound"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function tshark(pcap: string, filter: string, fields: readonly string[]): Promise<string[]> {
  const args = ['tshark', '-r', pcap, '-d', 'tcp.port==15008,tls', '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  return run(args).then((r) => {
    assert.equal(r.code, 0, `tshark ${filter}: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l.trim() !== '');
  });
}

async function refreshPods(): Promise<void> {
  for (const ns of ['mesh', 'plain', 'late']) for (const p of await pods(CLUSTER, ns)) podIp.set(`${ns}/${p.name}`, p);
}

describe('mesh: ztunnel + CNI on a local cluster', { concurrency: false }, () => {
  before(async () => {
    if (process.getuid?.() !== 0) return;
    dir = fixtureCopy('mesh');
    work = mkdtempSync(join(tmpdir(), 'ambit-mesh-'));
    const up = await ambitctl(CLUSTER, ['local', 'up', '-f', dir, '--nodes', '2', '--cert-ttl', '20'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `${up.stderr}\n${up.stdout}`);
    await refreshPods();
    ready = true;
  });

  after(async () => {
    if (process.getuid?.() !== 0) return;
    await downAndCheckClean(CLUSTER, dir, work);
  });

  test('pod IP across nodes: only TLS 1.3 to 15008 on the wire, never the marker; the server side knows the client', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const pcap = join(work, 'underlay.pcap');
    const marker = `AMBIT-MARKER-${randomBytes(8).toString('hex')}`;
    const dump = spawn(
      'ip',
      ['netns', 'exec', `${paths.prefix}node2`, 'tcpdump', '-i', 'eth0', '--immediate-mode', '-U', '-s', '0', '-w', pcap, 'tcp'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    await new Promise<void>((resolve) => dump.stderr.on('data', (d: Buffer) => d.toString().includes('listening on') && resolve()));
    try {
      const r = await nc('mesh', 'client', ip('mesh/server'), 7000, `${marker}\n`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `hello from server to ${ip('mesh/client')}\n${marker}\n`);
    } finally {
      // --immediate-mode hands each packet over at once; without it packets still in the ring are lost at SIGINT.
      await new Promise((resolve) => setTimeout(resolve, 200));
      dump.kill('SIGINT');
      await new Promise((resolve) => dump.once('exit', resolve));
    }
    const bytes = readFileSync(pcap);
    assert.ok(bytes.length > 1000, 'the capture holds the tunnel');
    assert.equal(bytes.indexOf(marker), -1, 'the marker never crossed the node link in clear');
    // The flows in the message, should one show up: which address and port carried payload in the clear.
    const fields = ['frame.number', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport'];
    // Between the two pods only the tunnel. (The node link also carries the mesh's own control traffic, TLS as well:
    // ztunnel's xDS and CA stream to the controller pod on 15012, the API through its nodes' forwarders on 6443.)
    const pods = `ip.addr == ${ip('mesh/client')} && ip.addr == ${ip('mesh/server')}`;
    assert.deepEqual(await tshark(pcap, `${pods} && tcp.len > 0 && !(tcp.port == 15008)`, fields), [], 'no payload outside port 15008');
    assert.deepEqual(await tshark(pcap, 'tcp.port == 15008 && tcp.len > 0 && !tls', ['frame.number']), [], 'every 15008 payload is TLS');
    const hello = await tshark(pcap, 'tls.handshake.type == 2', ['tls.handshake.extensions.supported_version']);
    assert.ok(hello.length > 0, 'a ServerHello was captured');
    for (const v of hello) assert.equal(v, '0x0304', 'TLS 1.3 negotiated');
    const rec = await eventually(() => {
      const found = inboundRecords('node2').find((x) => x['dst.addr'] === `${ip('mesh/server')}:7000` && x['error'] === undefined);
      assert.ok(found, 'node2 ztunnel logged the inbound tunnel');
      return found;
    });
    assert.equal(rec['src.identity'], `${TD}/ns/mesh/sa/client`);
  });

  test('Service VIP by name: load-balanced to the endpoint over HBONE', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const r = await nc('mesh', 'client', 'server', 80, 'via-service\n');
    assert.equal(r.stdout, `hello from server to ${ip('mesh/client')}\nvia-service\n`);
    await eventually(() =>
      assert.ok(
        inboundRecords('node2').some(
          (x) => x['dst.addr'] === `${ip('mesh/server')}:7000` && x['src.identity'] === `${TD}/ns/mesh/sa/client`,
        ),
      ),
    );
  });

  test('100 MB upload and 100 MB download: SHA-256 equal on both ends; half-closed clients get the whole reply', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const file = join(work, 'upload.bin');
    const data = randomBytes(100 * 1024 * 1024);
    writeFileSync(file, data);
    const want = createHash('sha256').update(data).digest('hex');
    const up = await inPod('mesh', 'client', ['sh', '-c', `nc -N -w 20 ${ip('mesh/server')} 7001 < ${file}`], undefined, 120_000);
    assert.equal(up.stdout.trim(), `${want} ${data.length}`, up.stderr);
    const out = join(work, 'download.bin');
    const down = await inPod(
      'mesh',
      'client',
      ['sh', '-c', `nc -N -w 20 ${ip('mesh/server')} 7002 < /dev/null > ${out}`],
      undefined,
      120_000,
    );
    assert.equal(down.code, 0, down.stderr);
    const got = createHash('sha256').update(readFileSync(out)).digest('hex');
    const serverLog = await eventually(async () => {
      const l = await ambitctlOk(CLUSTER, ['local', 'logs', '-n', 'mesh', 'server']);
      assert.match(l, /download sha256 [0-9a-f]{64} \d+/);
      return l;
    });
    const line =
      serverLog
        .split('\n')
        .filter((l) => l.startsWith('download sha256'))
        .at(-1) ?? '';
    assert.equal(line.split(' ')[2], got, 'downloaded bytes hash as sent');
    assert.equal(Number(line.split(' ')[3]), 100 * 1024 * 1024);
    rmSync(file);
    rmSync(out);
  });

  test('200 concurrent connections from one pod to another share at most 2 TLS connections', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const app = join(dir, 'apps', 'hold.mjs');
    const child = spawn(
      'ip',
      ['netns', 'exec', await podNetns(CLUSTER, 'mesh', 'client'), process.execPath, app, ip('mesh/server'), '7000', '200', '4'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('held 200')) resolve();
        if (out.includes('error')) reject(new Error(out));
      });
      child.once('exit', () => reject(new Error(`hold exited early: ${out}`)));
    });
    const ss = await inPod('mesh', 'client', ['ss', '-Htn', 'state', 'established', 'dst', `${ip('mesh/server')}:15008`]);
    const tls = ss.stdout.split('\n').filter((l) => l.trim() !== '').length;
    t.diagnostic(`${tls} TLS connection(s) carry 200 app connections`);
    assert.ok(tls >= 1 && tls <= 2, `TLS connections to ${ip('mesh/server')}:15008 while 200 are open: ${tls}\n${ss.stdout}`);
    await new Promise((resolve) => child.once('exit', resolve));
  });

  test('non-ambient → ambient: allowed under PERMISSIVE, refused under STRICT; ambient → non-ambient passes through', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const ok = await nc('plain', 'outsider', ip('mesh/server'), 7000, 'permissive\n');
    assert.equal(ok.stdout, `hello from server to ${ip('plain/outsider')}\npermissive\n`);
    const passthrough = await nc('mesh', 'client', ip('plain/plainsrv'), 7000, 'out-of-mesh\n');
    assert.equal(passthrough.stdout, `hello from plainsrv to ${ip('mesh/client')}\nout-of-mesh\n`);
    const pa = join(work, 'strict.yaml');
    writeFileSync(
      pa,
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: { name: strict, namespace: mesh }\nspec:\n  mtls: { mode: STRICT }\n',
    );
    await ambitctlOk(CLUSTER, ['local', 'apply', '-f', pa]);
    try {
      await eventually(async () => {
        const refused = await nc('plain', 'outsider', ip('mesh/server'), 7000, 'strict\n');
        assert.equal(refused.stdout, '', 'plaintext refused under STRICT');
      }, 10_000);
      const mtls = await nc('mesh', 'client', ip('mesh/server'), 7000, 'mtls\n');
      assert.equal(mtls.stdout, `hello from server to ${ip('mesh/client')}\nmtls\n`, 'mesh clients still get through');
    } finally {
      await ambitctlOk(CLUSTER, ['local', 'delete', '-f', pa]);
    }
    await eventually(async () => {
      const again = await nc('plain', 'outsider', ip('mesh/server'), 7000, 'permissive again\n');
      assert.equal(again.stdout, `hello from server to ${ip('plain/outsider')}\npermissive again\n`);
    }, 10_000);
  });

  test('a ztunnel cannot obtain a certificate for an identity with no pod on its node', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const ca = await nodeCa(paths, 'node1', work);
    const ask = (identity: string) => ca.ask(identity);
    assert.deepEqual((await ask(`${TD}/ns/mesh/sa/client`)).ok, true);
    const refused = await ask(`${TD}/ns/mesh/sa/server`);
    assert.equal(refused.ok, false);
    assert.match(refused.error ?? '', /PERMISSION_DENIED|not|node/i);
  });

  test('labelling a namespace enrols its running pods without restarting them; removing the label releases them', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const before = (await pods(CLUSTER, 'late')).find((p) => p.name === 'app');
    assert.ok(before);
    const captured = async (): Promise<boolean> => (await inPod('late', 'app', ['nft', 'list', 'table', 'inet', 'ambit'])).code === 0;
    assert.equal(await captured(), false);
    assert.equal((await kubectl(['label', 'namespace', 'late', 'istio.io/dataplane-mode=ambient'])).code, 0);
    await eventually(async () => assert.equal(await captured(), true), 10_000);
    await eventually(async () => {
      const r = await nc('late', 'caller', ip('late/app'), 7000, 'enrolled\n');
      assert.equal(r.stdout, `hello from app to ${ip('late/caller')}\nenrolled\n`);
      assert.ok(
        inboundRecords('node2').some((x) => x['dst.addr'] === `${ip('late/app')}:7000` && x['src.identity'] === `${TD}/ns/late/sa/default`),
        'caller → app went over HBONE',
      );
    }, 10_000);
    const after1 = (await pods(CLUSTER, 'late')).find((p) => p.name === 'app');
    assert.equal(after1?.ip, before.ip, 'same pod, same sandbox');
    assert.equal((await kubectl(['label', 'namespace', 'late', 'istio.io/dataplane-mode-'])).code, 0);
    await eventually(async () => assert.equal(await captured(), false), 10_000);
    const plain = await nc('late', 'caller', ip('late/app'), 7000, 'released\n');
    assert.equal(plain.stdout, `hello from app to ${ip('late/caller')}\nreleased\n`);
    const restarts = JSON.parse((await kubectl(['get', 'pod', '-n', 'late', 'app', '-o', 'json'])).stdout) as {
      status: { containerStatuses: Array<{ restartCount: number }> };
    };
    assert.equal(restarts.status.containerStatuses[0]?.restartCount, 0, 'the app never restarted');
  });

  test('deleting an enrolled pod closes its listeners and frees the netns handle', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const file = join(work, 'victim.yaml');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: { name: victim, namespace: mesh }\nspec:\n  nodeName: node2\n  containers:\n    - { name: idle, command: [sleep, infinity] }\n',
    );
    await ambitctlOk(CLUSTER, ['local', 'apply', '-f', file]);
    const netns = await eventually(() => podNetns(CLUSTER, 'mesh', 'victim'), 20_000);
    const listening = await inPod('mesh', 'victim', ['ss', '-Htln']);
    for (const port of [15001, 15006, 15008])
      assert.match(listening.stdout, new RegExp(`:${port}\\b`), `ztunnel listens on ${port} in the pod`);
    const inode = statSync(`/run/netns/${netns}`).ino;
    const ztPid = componentPid(paths, 'ztunnel', 'node2');
    const holds = (): boolean =>
      readdirSync(`/proc/${ztPid}/fd`).some((fd) => {
        try {
          // The fd was opened through the bind mount, so it reads back as that path; its inode is the namespace's.
          return statSync(`/proc/${ztPid}/fd/${fd}`).ino === inode;
        } catch {
          return false;
        }
      });
    assert.equal(holds(), true, 'ztunnel holds the pod netns while the pod runs');
    await ambitctlOk(CLUSTER, ['local', 'delete', '-f', file]);
    await eventually(() => assert.equal(holds(), false, 'ztunnel released the netns handle'), 15_000);
  });

  test('controller stopped: known pods still connect', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const pid = componentPid(paths, 'controller');
    process.kill(pid, 'SIGSTOP');
    try {
      const r = await nc('mesh', 'client', ip('mesh/server'), 7000, 'no-controller\n');
      assert.equal(r.stdout, `hello from server to ${ip('mesh/client')}\nno-controller\n`);
      const v = await nc('mesh', 'client', 'server', 80, 'no-controller-vip\n');
      assert.equal(v.stdout, `hello from server to ${ip('mesh/client')}\nno-controller-vip\n`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  test('restarting a ztunnel: new connections work again within 2 s of its restart, no pod restarts', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const old = componentPid(paths, 'ztunnel', 'node2');
    const started = Date.now();
    process.kill(old, 'SIGTERM');
    // When the new ztunnel process appears: the kubelet restarts the container after its first back-off, 1 s here
    // (local/src/proc/supervisor.ts; a real kubelet waits 10 s: a ztunnel upgrade without drops is a rollout, where the
    // new pod binds before the old one stops). The budget is for the new process, from its start.
    let restartedAt = 0;
    const watching = (async () => {
      while (restartedAt === 0 && Date.now() - started < 10_000) {
        try {
          if (componentPid(paths, 'ztunnel', 'node2') !== old) restartedAt = Date.now();
        } catch {
          // none or two for a moment (the old one exiting while the new one starts)
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    let okAt = 0;
    await eventually(async () => {
      const r = await nc('mesh', 'client', ip('mesh/server'), 7000, 'after-restart\n');
      assert.equal(r.stdout, `hello from server to ${ip('mesh/client')}\nafter-restart\n`);
      okAt = Date.now();
    }, 10_000);
    await watching;
    assert.ok(restartedAt > 0, 'a new ztunnel process serves the node');
    t.diagnostic(`new connections worked again ${okAt - started} ms after SIGTERM, ${okAt - restartedAt} ms after the new ztunnel started`);
    assert.ok(okAt - restartedAt <= 2000, `new connections worked again ${okAt - restartedAt} ms after the new ztunnel started`);
    for (const p of await pods(CLUSTER, 'mesh')) assert.equal(p.phase, 'Running');
    const server = JSON.parse((await kubectl(['get', 'pod', '-n', 'mesh', 'server', '-o', 'json'])).stdout) as {
      status: { containerStatuses: Array<{ restartCount: number }> };
    };
    assert.equal(server.status.containerStatuses[0]?.restartCount, 0);
  });

  test('20 s certificates: traffic flows across at least two rotations', async (t) => {
    if (!requirePrivileges(t, NEEDS) || !ready) return;
    const issued = (): number =>
      logOf('ztunnel', 'node2')
        .split('\n')
        .filter((l) => l.includes(`${TD}/ns/mesh/sa/server`) && l.includes('certificate issued')).length;
    const first = issued();
    // Connections every second until the second renewal has been seen and one more connection made after it (at most
    // 26 s: renewals come at half-life, every 10 s).
    const started = Date.now();
    const deadline = started + 26_000;
    let n = 0;
    let afterSecond = 0;
    while (Date.now() < deadline && afterSecond < 1) {
      const renewedTwice = issued() - first >= 2;
      const r = await nc('mesh', 'client', ip('mesh/server'), 7000, `rotation ${n}\n`);
      assert.equal(r.stdout, `hello from server to ${ip('mesh/client')}\nrotation ${n}\n`, `connection ${n}`);
      n += 1;
      if (renewedTwice) afterSecond += 1;
      else await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    t.diagnostic(`${n} connections over ${Date.now() - started} ms, ${issued() - first} renewals of the server certificate`);
    assert.ok(issued() - first >= 2 && afterSecond >= 1, `server certificate renewed ${issued() - first} times in 26 s`);
  });
});
