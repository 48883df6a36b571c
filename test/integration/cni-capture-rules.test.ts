import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { hasCode } from '@ambit/core';
import { eventually, readAll } from '@ambit/core/testing';
import {
  closeFd,
  connectFromNetns,
  getOriginalDst,
  listenInNetns,
  openNetns,
  socketFdOf,
  type SocketAddress,
} from '../../ztunnel/src/native/index.ts';
import {
  CAPTURE_TABLE,
  captureRulesInstalled,
  captureRulesScript,
  HBONE_PORT,
  INBOUND_PLAINTEXT_PORT,
  INPOD_MARK,
  installCaptureRules,
  kernelHasMigrateReq,
  MIGRATE_REQ_SYSCTL,
  OUTBOUND_CAPTURE_PORT,
  removeCaptureRules,
} from '../../cni/src/agent/capture-rules.ts';
import {
  canRunCaptureTests,
  createCaptureNetnsFixture,
  namespacesWithPrefix,
  nftTables,
  waitUntilInNetns,
} from '../../cni/testing/capture-netns.ts';

// P is the "pod" the rules are installed in, Q a peer joined to it by a veth pair.
const P_IP = '10.251.0.1';
const Q_IP = '10.251.0.2';
const APP_PORT = 8080;
const UDP_PORT = 53;

const fx = createCaptureNetnsFixture();
const isRoot = process.getuid?.() === 0;
let pFd = -1;
let qFd = -1;
let hostTablesBefore: string[] = [];
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
/** Original destinations seen by P's ztunnel-side listeners, per port, in accept order. */
const captured = new Map<number, SocketAddress[]>();

/** A listener in a namespace (through the addon) that answers every connection with `reply`. */
function serve(netnsFd: number, host: string, port: number, reply: string, recordOriginalDst = false): void {
  const server = listenInNetns(netnsFd, { host, port });
  server.on('connection', (socket: net.Socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    if (recordOriginalDst) {
      const seen = captured.get(port) ?? [];
      seen.push(getOriginalDst(socketFdOf(socket)));
      captured.set(port, seen);
    }
    socket.end(reply);
  });
  servers.push(server);
}

/** `nc` inside a fixture namespace: returns what the server sent. */
async function dial(ns: 'p' | 'q', host: string, port: number): Promise<string> {
  const nc = await fx.run(ns, ['nc', '-N', '-w', '3', host, String(port)], 'hello\n');
  assert.equal(nc.code, 0, `nc ${host}:${port} from ${ns}: ${nc.stderr}`);
  return nc.stdout;
}

function tablesIn(ns: 'p' | 'q'): string[] {
  return nftTables(fx.exec(ns, ['nft', 'list', 'tables']));
}

before(() => {
  if (!isRoot) return;
  hostTablesBefore = nftTables(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }));
  fx.add('p');
  fx.add('q');
  fx.link('p', `${P_IP}/24`, 'q', `${Q_IP}/24`);
  pFd = openNetns(fx.path('p'));
  qFd = openNetns(fx.path('q'));

  // ztunnel's side in P (what ztunnel would bind), plus plain app listeners.
  serve(pFd, '0.0.0.0', OUTBOUND_CAPTURE_PORT, 'outbound-capture', true);
  serve(pFd, '0.0.0.0', INBOUND_PLAINTEXT_PORT, 'inbound-capture', true);
  serve(pFd, '0.0.0.0', HBONE_PORT, 'hbone');
  serve(pFd, '127.0.0.1', 7070, 'p-loopback');
  serve(pFd, '0.0.0.0', 7071, 'p-self');
  serve(pFd, '0.0.0.0', 9090, 'p-app');
  serve(qFd, Q_IP, APP_PORT, 'q-direct');
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  if (pFd >= 0) closeFd(pFd);
  if (qFd >= 0) closeFd(qFd);
  await fx.cleanup();
  if (isRoot) {
    assert.deepEqual(namespacesWithPrefix(fx.prefix), []);
    assert.deepEqual(nftTables(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })), hostTablesBefore, 'host tables changed');
  }
});

test('the script touches only table inet ambit and comments each rule with its Istio rule', () => {
  const script = captureRulesScript();
  const tables = [...script.matchAll(/^\s*(?:delete\s+)?table\s+(\S+)\s+(\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.deepEqual([...new Set(tables)], [`inet ${CAPTURE_TABLE}`]);
  for (const needle of ['--to-ports 15001', '--to-ports 15006', '--set-xmark 0x111/0xfff', '--restore-mark']) {
    assert.ok(script.includes(needle), `missing Istio reference ${needle}`);
  }
  assert.doesNotMatch(script, /udp|15053/, 'UDP/DNS must not be captured');
});

test('install is idempotent, creates only table inet ambit, and is reported', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const before = tablesIn('p');
  assert.equal(await captureRulesInstalled(fx.name('p')), false);
  await installCaptureRules(fx.name('p'));
  await installCaptureRules(fx.name('p'));
  assert.equal(await captureRulesInstalled(fx.name('p')), true);
  assert.deepEqual(tablesIn('p'), [...before, `table inet ${CAPTURE_TABLE}`].sort());
  const ruleset = fx.exec('p', ['nft', 'list', 'ruleset']);
  assert.equal(ruleset.match(/redirect to :15001/g)?.length, 2, 'one IPv4 and one IPv6 outbound redirect, not duplicated');
  assert.deepEqual(tablesIn('q'), [], 'the peer is untouched');
  // The policy route for replies to ztunnel's spoofed inbound sockets: one rule (not stacked by the second install).
  const rules = fx
    .exec('p', ['ip', '-4', 'rule', 'show'])
    .split('\n')
    .filter((l) => l.includes('fwmark 0x111/0xfff lookup 100'));
  assert.equal(rules.length, 1, 'one fwmark rule after two installs');
  assert.match(fx.exec('p', ['ip', '-4', 'route', 'show', 'table', '100']), /^local default dev lo/m);
});

test('install sets tcp_migrate_req=1 in the pod (and only there), so a ztunnel hand-over migrates queued connections', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.equal(await kernelHasMigrateReq(), true, 'this kernel has net.ipv4.tcp_migrate_req (Linux ≥ 5.14)');
  const host = execFileSync('sysctl', ['-n', MIGRATE_REQ_SYSCTL], { encoding: 'utf8' }).trim();
  await installCaptureRules(fx.path('q'));
  assert.equal(fx.exec('q', ['sysctl', '-n', MIGRATE_REQ_SYSCTL]).trim(), '1');
  assert.equal(execFileSync('sysctl', ['-n', MIGRATE_REQ_SYSCTL], { encoding: 'utf8' }).trim(), host, "the host's value is untouched");
  await removeCaptureRules(fx.path('q'));
});

test('outbound: the app in P dialling Q:8080 lands on 15001 with the original destination', async (t) => {
  if (!canRunCaptureTests(t)) return;
  captured.delete(OUTBOUND_CAPTURE_PORT);
  assert.equal(await dial('p', Q_IP, APP_PORT), 'outbound-capture');
  await eventually(() => assert.deepEqual(captured.get(OUTBOUND_CAPTURE_PORT), [{ address: Q_IP, port: APP_PORT, family: 4 }]));
});

test('outbound: a socket marked 0x539 (ztunnel) reaches Q:8080 directly', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const socket = await connectFromNetns(pFd, { host: Q_IP, port: APP_PORT, mark: INPOD_MARK });
  sockets.push(socket);
  assert.equal(await readAll(socket), 'q-direct');
});

test('inbound: TCP from Q to P:9090 lands on 15006 with the original destination', async (t) => {
  if (!canRunCaptureTests(t)) return;
  captured.delete(INBOUND_PLAINTEXT_PORT);
  assert.equal(await dial('q', P_IP, 9090), 'inbound-capture');
  await eventually(() => assert.deepEqual(captured.get(INBOUND_PLAINTEXT_PORT), [{ address: P_IP, port: 9090, family: 4 }]));
});

test('inbound: TCP from Q to P:15008 reaches the HBONE listener without a redirect', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.equal(await dial('q', P_IP, HBONE_PORT), 'hbone');
});

test('loopback traffic inside P is untouched (127.0.0.1 and the pod talking to its own address)', async (t) => {
  if (!canRunCaptureTests(t)) return;
  captured.clear();
  assert.equal(await dial('p', '127.0.0.1', 7070), 'p-loopback');
  assert.equal(await dial('p', P_IP, 7071), 'p-self');
  assert.equal(captured.size, 0);
});

test('UDP (DNS port included) is untouched in both directions', async (t) => {
  if (!canRunCaptureTests(t)) return;
  for (const [server, serverIp, client] of [
    ['q', Q_IP, 'p'],
    ['p', P_IP, 'q'],
  ] as const) {
    // An in-process echo (PIPE), no `fork` and no SYSTEM: one datagram, one reply, then socat exits, leaving no child.
    const echo = fx.spawn(server, ['socat', `UDP4-RECVFROM:${UDP_PORT},bind=${serverIp}`, 'PIPE']);
    const exited = new Promise<void>((resolve) => echo.once('exit', () => resolve()));
    await eventually(() =>
      assert.match(fx.exec(server, ['ss', '-Hlun', `sport = :${UDP_PORT}`]), new RegExp(serverIp.replaceAll('.', '\\.'))),
    );
    const reply = await fx.run(client, ['socat', '-T', '3', '-', `UDP4:${serverIp}:${UDP_PORT}`], 'ping\n');
    assert.equal(reply.code, 0, reply.stderr);
    assert.equal(reply.stdout, 'ping\n', `UDP ${client} → ${server}`);
    if (echo.exitCode === null && echo.signalCode === null) echo.kill('SIGKILL');
    await exited;
  }
});

test('remove restores direct connectivity and is idempotent', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const tablesWithRules = tablesIn('p');
  await removeCaptureRules(fx.name('p'));
  await removeCaptureRules(fx.name('p'));
  assert.equal(await captureRulesInstalled(fx.name('p')), false);
  assert.deepEqual(
    tablesIn('p'),
    tablesWithRules.filter((table) => table !== `table inet ${CAPTURE_TABLE}`),
  );
  assert.doesNotMatch(fx.exec('p', ['ip', '-4', 'rule', 'show']), /lookup 100/, 'the fwmark rule is gone');
  assert.equal(fx.exec('p', ['ip', '-4', 'route', 'show', 'table', '100']).trim(), '', 'table 100 is empty');
  assert.equal(await dial('p', Q_IP, APP_PORT), 'q-direct');
  assert.equal(await dial('q', P_IP, 9090), 'p-app');
});

test('a namespace path works like a name: /run/netns/NAME and /proc/PID/ns/net (CNI_NETNS forms)', async (t) => {
  if (!canRunCaptureTests(t)) return;
  assert.equal(await captureRulesInstalled(fx.name('q')), false);
  await installCaptureRules(fx.path('q'));
  assert.equal(await captureRulesInstalled(fx.name('q')), true, 'installed through the path, seen through the name');
  await removeCaptureRules(fx.path('q'));
  assert.equal(await captureRulesInstalled(fx.path('q')), false);

  const sleeper = fx.spawn('q', ['sleep', '600']);
  const procPath = await waitUntilInNetns(sleeper.pid, fx.path('q'));
  assert.equal(await captureRulesInstalled(procPath), false);
  await installCaptureRules(procPath);
  assert.equal(await captureRulesInstalled(fx.name('q')), true);
  await removeCaptureRules(procPath);
  assert.deepEqual(tablesIn('q'), []);
});

test('errors name the namespace and carry CAPTURE_RULES_FAILED', async (t) => {
  if (!canRunCaptureTests(t)) return;
  const missing = `${fx.prefix}missing`;
  for (const action of [installCaptureRules, removeCaptureRules, captureRulesInstalled]) {
    await assert.rejects(action(missing), (err: unknown) => {
      assert.ok(hasCode(err, 'CAPTURE_RULES_FAILED'), String(err));
      assert.match((err as Error).message, new RegExp(missing));
      assert.match((err as Error).message, /Cannot open network namespace/);
      return true;
    });
  }
  await assert.rejects(installCaptureRules('-bad'), (err: unknown) => hasCode(err, 'CAPTURE_RULES_FAILED'));
  const missingPath = `/run/netns/${missing}`;
  await assert.rejects(installCaptureRules(missingPath), (err: unknown) => {
    assert.ok(hasCode(err, 'CAPTURE_RULES_FAILED'), String(err));
    assert.match((err as Error).message, new RegExp(`netns ${missingPath}: install capture rules failed .*nsenter`));
    return true;
  });
  // Never the host: the agent's own namespace and PID 1's are refused whatever path names them.
  for (const host of ['/proc/self/ns/net', `/proc/${process.pid}/ns/net`]) {
    await assert.rejects(
      installCaptureRules(host),
      (err: unknown) => hasCode(err, 'CAPTURE_RULES_FAILED') && /refusing to install capture rules there/.test(String(err)),
    );
  }
  // PID 1's is refused too, or (in a sandbox that hides it) cannot even be opened; the after hook checks the host.
  await assert.rejects(
    installCaptureRules('/proc/1/ns/net'),
    (err: unknown) => hasCode(err, 'CAPTURE_RULES_FAILED') && /refusing|Permission denied/.test(String(err)),
  );
  for (const bad of ['/run/netns/../netns/x', '/run/netns/x/', '/run//netns/x']) {
    await assert.rejects(
      installCaptureRules(bad),
      (err: unknown) => hasCode(err, 'CAPTURE_RULES_FAILED') && /invalid network namespace name or path/.test(String(err)),
    );
  }
});
