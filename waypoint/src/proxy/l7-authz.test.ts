import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { StringMatch } from '@ambit/core';
import type { L7Authorization, L7Operation, L7Rule, L7Source, L7Target } from '@ambit/core/policy';
import { eventually } from '@ambit/core/testing';
import { CLIENT_ID, NS, rawExchange, type SeenRequest } from '../../testing/fixture.ts';
import { host, startScenario, VIP, type Scenario } from '../../testing/scenario.ts';

// L7 AuthorizationPolicy in the waypoint (stage 1 of the request path), HTTP/1.1: a real HBONE client → waypoint →
// real backends; policies targeting the waypoint's Gateway or one Service.
let sc: Scenario;
before(async () => {
  sc = await startScenario();
});
after(async () => {
  await sc.close();
});
beforeEach(() => {
  sc.fx.state.l7 = [];
  sc.fx.state.bump();
  sc.fx.records.length = 0;
  sc.v1.seen.length = 0;
  sc.v2.seen.length = 0;
});

const GATEWAY: L7Target = { kind: 'Gateway', namespace: NS, name: 'waypoint' };
const noSource: L7Source = {
  principals: [],
  notPrincipals: [],
  namespaces: [],
  notNamespaces: [],
  serviceAccounts: [],
  notServiceAccounts: [],
  ipBlocks: [],
  notIpBlocks: [],
  remoteIpBlocks: [],
  notRemoteIpBlocks: [],
};
const noOperation: L7Operation = { hosts: [], notHosts: [], ports: [], notPorts: [], methods: [], notMethods: [], paths: [], notPaths: [] };
const exact = (v: string): StringMatch => ({ exact: v });

function policy(name: string, action: 'ALLOW' | 'DENY', rules: L7Rule[], extra: Partial<L7Authorization> = {}): L7Authorization {
  return { name, namespace: NS, action, dryRun: false, targets: [GATEWAY], rules, ...extra };
}

/** ALLOW `GET /public/*` from `principal` (Istio's example of the acceptance test). */
const publicRead = (principal = CLIENT_ID.slice('spiffe://'.length)): L7Authorization =>
  policy('public-read', 'ALLOW', [
    {
      from: [{ ...noSource, principals: [exact(principal)] }],
      to: [{ ...noOperation, methods: [exact('GET')], paths: [{ prefix: '/public/' }] }],
      when: [],
    },
  ]);

async function send(path: string, method = 'GET', authority = `${VIP.svc}:80`, headers: Record<string, string> = {}) {
  const res = await sc.client(authority).request({ path, method, headers: { host: 'svc', ...headers } });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

function setPolicies(...policies: L7Authorization[]): void {
  sc.fx.state.l7 = policies;
  sc.fx.state.bump();
}

test('without policies nothing is checked and nothing recorded', async () => {
  assert.equal((await send('/private')).status, 200);
  await eventually(() => assert.equal(sc.fx.records.length, 1));
  assert.equal(sc.fx.records[0]?.authz, undefined);
});

test('ALLOW GET /public/* for the caller: GET /public/a 200; POST /public/x and GET /private 403 RBAC: access denied', async () => {
  setPolicies(publicRead());
  const ok = await send('/public/a?q=1');
  assert.equal(ok.status, 200);
  const post = await send('/public/x', 'POST');
  assert.equal(post.status, 403);
  assert.equal(post.text, 'RBAC: access denied');
  assert.equal(post.headers['content-type'], 'text/plain');
  const priv = await send('/private');
  assert.equal(priv.status, 403);
  assert.equal(priv.text, 'RBAC: access denied');
  // Denied requests never reach a backend.
  assert.deepEqual(
    [...sc.v1.seen, ...sc.v2.seen].map((s: SeenRequest) => `${s.method} ${s.url}`),
    ['GET /public/a?q=1'],
  );
  await eventually(() => assert.equal(sc.fx.records.length, 3));
  const [a, b, c] = sc.fx.records;
  assert.deepEqual(a?.authz, { allow: true, policy: `${NS}/public-read`, rule: 0 });
  assert.deepEqual(b?.authz, { allow: false });
  assert.equal(b?.responseCode, 403);
  assert.equal(b?.responseFlags, '-');
  assert.equal(b?.upstreamHost, undefined);
  assert.equal(c?.responseCode, 403);
});

test('the same request from another identity is denied', async () => {
  setPolicies(publicRead('cluster.local/ns/default/sa/someone-else'));
  assert.equal((await send('/public/a')).status, 403);
});

test('DENY on a header value; keep-alive survives a denial', async () => {
  setPolicies(
    policy('block-tenant', 'DENY', [
      { from: [], to: [], when: [{ key: 'request.headers', header: 'x-tenant', values: [exact('blocked')], notValues: [] }] },
    ]),
  );
  const client = sc.client();
  const denied = await client.request({ path: '/a', method: 'GET', headers: { host: 'svc', 'x-tenant': 'blocked' } });
  assert.equal(denied.statusCode, 403);
  assert.equal(await denied.body.text(), 'RBAC: access denied');
  const allowed = await client.request({ path: '/a', method: 'GET', headers: { host: 'svc', 'x-tenant': 'ok' } });
  assert.equal(allowed.statusCode, 200);
  await allowed.body.text();
  await eventually(() => assert.equal(sc.fx.records.length, 2));
  assert.deepEqual(sc.fx.records[0]?.authz, { allow: false, policy: `${NS}/block-tenant`, rule: 0 });
  // No enforced ALLOW and no matching DENY: allowed, recorded without a deciding policy.
  assert.deepEqual(sc.fx.records[1]?.authz, { allow: true });
});

test('a denied request with a body is answered and the connection stays usable', async () => {
  setPolicies(policy('deny-post', 'DENY', [{ from: [], to: [{ ...noOperation, methods: [exact('POST')] }], when: [] }]));
  const raw = await rawExchange(
    sc.fx,
    `${VIP.svc}:80`,
    'POST /x HTTP/1.1\r\nhost: svc\r\ncontent-length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n',
  );
  assert.match(raw, /^HTTP\/1\.1 403 Forbidden\r\n[^]*\r\n\r\nRBAC: access denied/);
  assert.match(raw, /HTTP\/1\.1 200 OK/);
});

test('dry run: a DENY in dry-run mode does not block; what it would have done is recorded', async () => {
  setPolicies(policy('would-deny', 'DENY', [{ from: [], to: [], when: [] }], { dryRun: true }));
  assert.equal((await send('/a')).status, 200);
  await eventually(() => assert.equal(sc.fx.records.length, 1));
  assert.deepEqual(sc.fx.records[0]?.authz, { allow: true, dryRun: { allow: false, policy: `${NS}/would-deny` } });
});

test('a Service target applies to requests addressed to that Service only; a Gateway target to all', async () => {
  const svcV1: L7Target = { kind: 'Service', namespace: NS, hostname: host('svc-v1') };
  setPolicies(policy('deny-v1', 'DENY', [{ from: [], to: [], when: [] }], { targets: [svcV1] }));
  assert.equal((await send('/a', 'GET', `${VIP.v1}:80`)).status, 403);
  assert.equal((await send('/a', 'GET', `${VIP.svc}:80`)).status, 200);
  assert.equal((await send('/a', 'GET', `${VIP.v2}:80`)).status, 200);
  setPolicies(policy('deny-all', 'DENY', [{ from: [], to: [], when: [] }]));
  assert.equal((await send('/a', 'GET', `${VIP.v2}:80`)).status, 403);
  assert.equal((await send('/a', 'GET', `${VIP.svc}:80`)).status, 403);
});

test('request facts: hosts with or without the port, the addressed port, remote.ip from x-forwarded-for, source.ip', async () => {
  const allow = (rule: L7Rule): void => setPolicies(policy('p', 'ALLOW', [rule]));
  allow({ from: [], to: [{ ...noOperation, hosts: [exact('svc')], ports: [80] }], when: [] });
  assert.equal((await send('/a')).status, 200);
  assert.equal((await send('/a', 'GET', `${VIP.svc}:80`, { host: 'SVC:80' })).status, 200);
  assert.equal((await send('/a', 'GET', `${VIP.svc}:80`, { host: 'other' })).status, 403);
  allow({ from: [{ ...noSource, remoteIpBlocks: [{ address: '192.0.2.0', length: 24 }] }], to: [], when: [] });
  assert.equal((await send('/a', 'GET', `${VIP.svc}:80`, { 'x-forwarded-for': '192.0.2.7, 10.0.0.1' })).status, 200);
  assert.equal((await send('/a')).status, 403);
  // The fixture's source ztunnel forwards the caller's address 10.1.1.1 (the tunnel's Forwarded header).
  allow({ from: [], to: [], when: [{ key: 'source.ip', values: [{ address: '10.1.1.1', length: 32 }], notValues: [] }] });
  assert.equal((await send('/a')).status, 200);
  allow({ from: [], to: [], when: [{ key: 'destination.port', values: [8080], notValues: [] }] });
  assert.equal((await send('/a')).status, 403);
});

test('paths are matched as Envoy normalises them: dot segments and absolute-form targets do not slip past a DENY', async () => {
  setPolicies(policy('deny-private', 'DENY', [{ from: [], to: [{ ...noOperation, paths: [{ prefix: '/private' }] }], when: [] }]));
  for (const target of ['/public/../private', '/public/%2e%2e/private', 'http://svc/private', '/private?x=1']) {
    const raw = await rawExchange(sc.fx, `${VIP.svc}:80`, `GET ${target} HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 403 /, target);
  }
  assert.deepEqual([...sc.v1.seen, ...sc.v2.seen], []);
  assert.equal((await send('/public/a')).status, 200);
  // An ALLOW on /public/* passes /public/../public/b only because the backend is sent the path the policy saw.
  setPolicies(policy('allow-public', 'ALLOW', [{ from: [], to: [{ ...noOperation, paths: [{ prefix: '/public/' }] }], when: [] }]));
  const raw = await rawExchange(sc.fx, `${VIP.svc}:80`, `GET /public/x/../b?q=1 HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n`);
  assert.match(raw, /^HTTP\/1\.1 200 /);
  assert.ok(
    [...sc.v1.seen, ...sc.v2.seen].some((r) => r.url === '/public/b?q=1'),
    JSON.stringify([...sc.v1.seen, ...sc.v2.seen].map((r) => r.url)),
  );
});
