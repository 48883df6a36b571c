import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeObjectError } from '@ambit/core';
import { parseGateway, parseNamespace, parsePod, parseService } from './kube-objects.ts';
import { parseAuthorizationPolicy, parsePeerAuthentication } from './security-objects.ts';
import { authorizationPolicy, gateway, peerAuthentication, pod, service } from '../../testing/kube-objects.ts';

/** Deep-sets `path` (dot/bracket-free segments) in a copy of `obj`. */
function withField(obj: Record<string, unknown>, path: readonly (string | number)[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(obj);
  let cur: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  assert.ok(last !== undefined);
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return copy;
}

const malformed: Array<{ name: string; parse: (x: unknown) => unknown; input: unknown; object: string; field: string }> = [
  {
    name: 'pod label value not a string',
    parse: parsePod,
    input: withField(pod('a'), ['metadata', 'labels'], { app: 7 }),
    object: 'Pod demo/a',
    field: 'metadata.labels[app]',
  },
  {
    name: 'pod without name',
    parse: parsePod,
    input: withField(pod('a'), ['metadata', 'name'], undefined),
    object: 'Pod demo/<unnamed>',
    field: 'metadata.name',
  },
  {
    name: 'pod without namespace',
    parse: parsePod,
    input: withField(pod('a'), ['metadata', 'namespace'], undefined),
    object: 'Pod a',
    field: 'metadata.namespace',
  },
  {
    name: 'container port as text',
    parse: parsePod,
    input: withField(pod('a'), ['spec', 'containers', 0, 'ports'], [{ containerPort: 'http' }]),
    object: 'Pod demo/a',
    field: 'spec.containers[0].ports[0].containerPort',
  },
  {
    name: 'podIPs not a list',
    parse: parsePod,
    input: withField(pod('a'), ['status', 'podIPs'], 'x'),
    object: 'Pod demo/a',
    field: 'status.podIPs',
  },
  { name: 'not an object', parse: parsePod, input: [1, 2], object: '<unknown kind> <unnamed>', field: '.' },
  {
    name: 'service port out of range',
    parse: parseService,
    input: withField(service('s'), ['spec', 'ports'], [{ port: 70000 }]),
    object: 'Service demo/s',
    field: 'spec.ports[0].port',
  },
  {
    name: 'service targetPort of the wrong type',
    parse: parseService,
    input: withField(service('s'), ['spec', 'ports'], [{ port: 80, targetPort: true }]),
    object: 'Service demo/s',
    field: 'spec.ports[0].targetPort',
  },
  {
    name: 'service selector not a map',
    parse: parseService,
    input: withField(service('s'), ['spec', 'selector'], ['app']),
    object: 'Service demo/s',
    field: 'spec.selector',
  },
  {
    name: 'namespace without metadata',
    parse: parseNamespace,
    input: { apiVersion: 'v1', kind: 'Namespace' },
    object: 'Namespace <unnamed>',
    field: 'metadata',
  },
  {
    name: 'gateway without class',
    parse: parseGateway,
    input: withField(gateway('wp'), ['spec', 'gatewayClassName'], undefined),
    object: 'Gateway demo/wp',
    field: 'spec.gatewayClassName',
  },
  {
    name: 'authorization rules not a list',
    parse: parseAuthorizationPolicy,
    input: authorizationPolicy('p', { rules: { from: [] } }),
    object: 'AuthorizationPolicy demo/p',
    field: 'spec.rules',
  },
  {
    name: 'authorization when without key',
    parse: parseAuthorizationPolicy,
    input: authorizationPolicy('p', { rules: [{ when: [{ values: ['a'] }] }] }),
    object: 'AuthorizationPolicy demo/p',
    field: 'spec.rules[0].when[0].key',
  },
  {
    name: 'authorization principal not a string',
    parse: parseAuthorizationPolicy,
    input: authorizationPolicy('p', { rules: [{ from: [{ source: { principals: [{}] } }] }] }),
    object: 'AuthorizationPolicy demo/p',
    field: 'spec.rules[0].from[0].source.principals[0]',
  },
  {
    name: 'peer authentication unknown mode',
    parse: parsePeerAuthentication,
    input: peerAuthentication('pa', { mtls: { mode: 'SOMETIMES' } }),
    object: 'PeerAuthentication demo/pa',
    field: 'spec.mtls.mode',
  },
  {
    name: 'peer authentication port key not a port',
    parse: parsePeerAuthentication,
    input: peerAuthentication('pa', { selector: { matchLabels: { app: 'a' } }, portLevelMtls: { http: { mode: 'STRICT' } } }),
    object: 'PeerAuthentication demo/pa',
    field: 'spec.portLevelMtls[http]',
  },
];

for (const c of malformed) {
  test(`malformed: ${c.name} → KubeObjectError naming ${c.object} and ${c.field}`, () => {
    assert.throws(
      () => c.parse(c.input),
      (err: unknown) => {
        assert.ok(err instanceof KubeObjectError, String(err));
        assert.equal(err.code, 'INVALID_OBJECT');
        assert.equal(err.object, c.object);
        assert.equal(err.field, c.field);
        assert.ok(err.message.startsWith(`${c.object}: ${c.field}: `), err.message);
        return true;
      },
    );
  });
}

test('pod IPs: podIPs (dual stack) win, podIP is the fallback, none before the CNI ran', () => {
  const cases: Array<{ status: Record<string, unknown>; ips: string[] }> = [
    { status: { podIPs: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }], podIP: '10.0.0.1' }, ips: ['10.0.0.1', 'fd00::1'] },
    { status: { podIP: '10.0.0.2' }, ips: ['10.0.0.2'] },
    { status: { phase: 'Pending' }, ips: [] },
    { status: { podIP: '' }, ips: [] },
  ];
  for (const c of cases) {
    assert.deepEqual(parsePod(withField(pod('a'), ['status'], c.status)).ips, c.ips, JSON.stringify(c.status));
  }
});

test('pod defaults: service account `default`, protocol TCP, no readiness without a Ready=True condition', () => {
  const p = parsePod(withField(pod('a', { ports: [{ name: 'http', containerPort: 8080 }] }), ['status', 'conditions'], undefined));
  assert.equal(p.serviceAccountName, 'default');
  assert.deepEqual(p.containerPorts, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  assert.equal(p.ready, false);
});

test('service: headless and unallocated clusterIPs are not addresses; "8080" targetPort is a number', () => {
  const headless = parseService(service('h', { clusterIP: 'None', clusterIPs: ['None'] }));
  assert.deepEqual(headless.clusterIps, []);
  const pending = parseService(withField(service('p'), ['spec'], { clusterIP: '', ports: [{ port: 80, targetPort: '8080' }] }));
  assert.deepEqual(pending.clusterIps, []);
  assert.equal(pending.ports[0]?.targetPort, 8080);
});
