import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@ambit/core';
import { eventually, requirePrivileges } from '@ambit/core/testing';
import { addNetns, deleteNetns, loopbackUp, pidsIn } from '../net/netns.ts';
import { startContainer, type ContainerHandle } from '../proc/supervisor.ts';
import { tempDir, testPrefix } from '../../testing/network.ts';
import { runProbeHandler, type ProbeTarget } from './probe-handlers.ts';
import type { ProbeHandler } from './probe-spec.ts';

const PROBE_TARGET = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'testing', 'probe-target.ts');
const NEEDS = { root: true, executables: ['/usr/sbin/ip', '/usr/bin/nsenter', '/usr/bin/socat'] };

test('httpGet, tcpSocket, grpc and exec probes are made inside the pod namespace, with the kubelet outputs', async (t) => {
  if (!requirePrivileges(t, NEEDS)) return;
  const ns = `${testPrefix('probe')}h`;
  await addNetns(ns);
  const handles: ContainerHandle[] = [];
  // One hook, so the server stops before the namespace is checked for leftovers (hooks run first-registered first).
  t.after(async () => {
    await Promise.all(handles.map((h) => h.stop(1000)));
    const left = await pidsIn(ns);
    await deleteNetns(ns);
    assert.deepEqual(left, [], `processes left in ${ns}`);
  });
  await loopbackUp(ns);
  const dir = await tempDir(t, 'probe');
  const server = startContainer({
    netns: ns,
    name: 'target',
    command: [process.execPath, PROBE_TARGET, '--state', dir, '--http', '8080', '--grpc', '9090'],
    env: {},
    cwd: dir,
    logFile: join(dir, 'target.log'),
    restartPolicy: 'Never',
    log: silentLogger(),
  });
  handles.push(server);
  // 127.0.0.1 of the pod's namespace: nothing of the host's answers there, so a success proves where it ran.
  const target: ProbeTarget = {
    netns: ns,
    podIP: '127.0.0.1',
    ports: new Map([['http', 8080]]),
    pid: () => server.pid(),
    env: { GREETING: 'hi' },
    cwd: dir,
  };
  const probe = (h: ProbeHandler, timeoutMs = 1000) => runProbeHandler(h, target, timeoutMs);

  await eventually(async () => assert.equal((await probe({ type: 'tcpSocket', port: 8080 })).result, 'success'), 10_000);
  assert.deepEqual(await probe({ type: 'tcpSocket', port: 'http' }), { result: 'success', output: '' });
  assert.deepEqual(await probe({ type: 'tcpSocket', port: 8081 }), {
    result: 'failure',
    output: 'dial tcp 127.0.0.1:8081: connect: connection refused',
  });
  assert.deepEqual(await probe({ type: 'tcpSocket', port: 'nope' }), { result: 'failure', output: 'port nope not found' });

  const http: ProbeHandler = {
    type: 'httpGet',
    path: '/healthz',
    port: 'http',
    scheme: 'HTTP',
    headers: [{ name: 'X-Probe', value: 'yes' }],
  };
  assert.deepEqual(await probe(http), { result: 'failure', output: 'HTTP probe failed with statuscode: 503' });
  const seen = JSON.parse(await readFile(join(dir, 'last-request.json'), 'utf8')) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, '/healthz');
  assert.equal(seen.headers['user-agent'], 'kube-probe/1.32');
  assert.equal(seen.headers['x-probe'], 'yes');
  assert.equal(seen.headers['host'], '127.0.0.1:8080');
  assert.equal(seen.headers['connection'], 'close');
  await writeFile(join(dir, 'ready'), '');
  assert.deepEqual(await probe(http), { result: 'success', output: 'ok' });
  assert.deepEqual(await probe({ ...http, path: '/redirect' }), {
    result: 'warning',
    output: 'Probe terminated redirects, Response body: moved',
  });
  let started = Date.now();
  assert.deepEqual(await probe({ ...http, path: '/slow' }, 300), {
    result: 'failure',
    output: 'Get "http://127.0.0.1:8080/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
  });
  assert.ok(Date.now() - started < 2000, 'the timeout ends a probe that gets no answer');
  assert.deepEqual(await probe({ ...http, port: 8081 }), {
    result: 'failure',
    output: 'Get "http://127.0.0.1:8081/healthz": dial tcp 127.0.0.1:8081: connect: connection refused',
  });

  const grpc: ProbeHandler = { type: 'grpc', port: 9090, service: '' };
  assert.deepEqual(await probe(grpc), { result: 'success', output: 'service healthy' });
  assert.deepEqual(await probe({ ...grpc, service: 'unknown' }), {
    result: 'failure',
    output: 'error: health rpc probe failed: rpc error: code = NotFound desc = unknown service',
  });
  await rm(join(dir, 'ready'));
  assert.deepEqual(await probe({ ...grpc, service: 'web' }), {
    result: 'failure',
    output: 'service unhealthy (responded with "NOT_SERVING")',
  });
  assert.deepEqual(await probe({ ...grpc, port: 8080 }), {
    result: 'failure',
    output: 'error: health rpc probe failed: rpc error: code = Unavailable desc = connection error: Protocol error',
  });
  assert.deepEqual(await probe({ ...grpc, port: 9091 }), {
    result: 'failure',
    output: 'timeout: failed to connect service "127.0.0.1:9091" within 1s: context deadline exceeded',
  });

  // exec: the container's environment, working directory and network namespace (only `lo` in it).
  assert.deepEqual(await probe({ type: 'exec', command: ['sh', '-c', 'echo "$GREETING $(pwd) $(ip -o link | wc -l)"'] }), {
    result: 'success',
    output: `hi ${dir} 1\n`,
  });
  assert.deepEqual(await probe({ type: 'exec', command: ['sh', '-c', 'echo not yet >&2; exit 3'] }), {
    result: 'failure',
    output: 'not yet\n',
  });
  started = Date.now();
  assert.deepEqual(await probe({ type: 'exec', command: ['sleep', '5'] }, 300), {
    result: 'failure',
    output: 'command "sleep 5" timed out',
  });
  assert.ok(Date.now() - started < 2000, 'a timed-out exec probe is killed');
});
