import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { eventually } from '../../testing/eventually.ts';
import type { Clock, ClockTimer } from '../clock.ts';
import { silentLogger } from '../log.ts';
import { startInformer } from './informer.ts';
import { KubeClient } from './kube-client.ts';
import { watchedKind } from './watched-kind.ts';

// The informer's restart schedule against an API server that is down (every request 503): each failure waits the
// core backoff's jittered delay on the injected clock, which the test fires by hand; a successful list and watch
// start the schedule over.

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** An API server that answers 503 to everything while `down`, else an empty Namespace list and a silent watch. */
async function flakyApi(): Promise<{ url: string; requests: () => number; setDown(down: boolean): void }> {
  let requests = 0;
  let down = true;
  const watches = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    requests++;
    if (down) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'ServiceUnavailable', code: 503 }));
    } else if (new URL(req.url ?? '/', 'http://x').searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      watches.add(res);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }));
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    setDown(d) {
      down = d;
      // Going down ends the open watches, as an API server restart does.
      if (d) for (const w of watches) w.end();
      watches.clear();
    },
  };
}

/** A clock whose timers fire only when the test says so. */
function manualClock(): Clock & { readonly delays: number[]; fire(): void } {
  const pending: Array<{ fn: () => void; handle: ClockTimer }> = [];
  const delays: number[] = [];
  return {
    delays,
    now: () => 0,
    setTimeout(fn, ms) {
      const handle: ClockTimer = {};
      delays.push(ms);
      pending.push({ fn, handle });
      return handle;
    },
    clearTimeout(handle) {
      const i = pending.findIndex((p) => p.handle === handle);
      if (i >= 0) pending.splice(i, 1);
    },
    fire() {
      for (const p of pending.splice(0)) p.fn();
    },
  };
}

test('restarts after errors wait the jittered backoff on the injected clock', async () => {
  const api = await flakyApi();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: api.url, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  const kind = watchedKind('v1', 'Namespace', 'namespaces');
  const clock = manualClock();
  const informer = startInformer({
    kc,
    client: new KubeClient(kc),
    kind,
    log: silentLogger(),
    clock,
    // Equal jitter drawn at its low end: half the nominal 200, 400, 800 ms.
    backoff: { random: () => 0 },
    onEvent: () => assert.fail('a server that is down delivers nothing'),
  });
  try {
    for (let restarts = 1; restarts <= 3; restarts++) {
      await eventually(() => assert.equal(informer.restarts(), restarts), 5000);
      assert.equal(clock.delays.length, restarts, 'the restart waits on the injected clock');
      assert.ok(api.requests() >= restarts);
      clock.fire();
    }
    assert.deepEqual(clock.delays, [100, 200, 400]);
    // Back up: the restart lists and watches, which resets the schedule; down again, the first delay is the first one.
    api.setDown(false);
    await informer.synced;
    await eventually(() => assert.ok(api.requests() >= 5, 'listed and watching'), 5000);
    api.setDown(true);
    await eventually(() => assert.equal(informer.restarts(), 4), 5000);
    assert.deepEqual(clock.delays, [100, 200, 400, 100]);
  } finally {
    await informer.stop();
  }
});

test('a kind the API server does not serve (404: CRD not installed) counts as synced and is listed once it appears', async () => {
  let installed = false;
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (!installed) {
      res.writeHead(404);
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
    } else if (new URL(req.url ?? '/', 'http://x').searchParams.get('watch') === 'true') {
      res.writeHead(200);
      res.flushHeaders();
    } else {
      res.writeHead(200);
      const item = { metadata: { name: 'limit', namespace: 'demo', resourceVersion: '2' }, spec: {} };
      res.end(
        JSON.stringify({ kind: 'LocalRateLimitList', apiVersion: 'ambit.dev/v1alpha1', metadata: { resourceVersion: '2' }, items: [item] }),
      );
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  const clock = manualClock();
  const seen: string[] = [];
  const informer = startInformer({
    kc,
    client: new KubeClient(kc),
    kind: watchedKind('ambit.dev/v1alpha1', 'LocalRateLimit', 'localratelimits'),
    log: silentLogger(),
    clock,
    backoff: { random: () => 0 },
    onEvent: (type, o) => seen.push(`${type} ${String(o['kind'])} ${String((o['metadata'] as Record<string, unknown>)['name'])}`),
  });
  try {
    await informer.synced;
    assert.equal(informer.lists(), 0, 'synced without any list: the kind is not served');
    await eventually(() => assert.equal(clock.delays.length, 1, 'and it keeps trying'), 5000);
    clock.fire();
    await eventually(() => assert.equal(clock.delays.length, 2), 5000);
    installed = true;
    clock.fire();
    await eventually(() => assert.deepEqual(seen, ['upsert LocalRateLimit limit']), 5000);
    assert.equal(informer.lists(), 1);
  } finally {
    await informer.stop();
  }
});
