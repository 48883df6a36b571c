import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteSet } from '@ambit/core/routes';
import { gateway, namespace, service } from '../../testing/kube-objects.ts';
import { backend, gatewayParent, grpcRoute, httpRoute, referenceGrant, serviceParent } from '../../testing/route-objects.ts';
import { RouteBuilder, type RouteDelta, type RouteStatusUpdate } from './route-builder.ts';

const WEB = 'Service/demo/web.demo.svc.cluster.local';
const up = (object: Record<string, unknown>) => ({ type: 'upsert' as const, object });
const del = (object: Record<string, unknown>) => ({ type: 'delete' as const, object });

function setOf(b: RouteBuilder, key: string): RouteSet {
  const set = b.snapshot().find((s) => setKeyOf(s) === key);
  assert.ok(set !== undefined, `no set ${key}; have ${b.snapshot().map(setKeyOf).join(', ')}`);
  return set;
}

function setKeyOf(s: RouteSet): string {
  const p = s.parent;
  return p.kind === 'Gateway'
    ? `Gateway/${p.namespace}/${p.name}`
    : `Service/${p.namespace}/${p.hostname}${p.port === undefined ? '' : `:${p.port}`}`;
}

/** `type=status/reason` of each condition of the one status entry of the last update. */
function conditionsOf(delta: RouteDelta, entry = 0): string[] {
  const update = delta.status.at(-1);
  assert.ok(update !== undefined, 'a status update');
  return (update.parents[entry]?.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`);
}

function messageOf(update: RouteStatusUpdate | undefined, type: string): string {
  return update?.parents[0]?.conditions.find((c) => c.type === type)?.message ?? '';
}

function builder(...objects: Array<Record<string, unknown>>): RouteBuilder {
  const b = new RouteBuilder();
  for (const o of objects) b.apply(up(o));
  return b;
}

test('a GAMMA canary route becomes one set with both weighted backends; status Accepted and ResolvedRefs', () => {
  const b = builder(service('web'), service('web-v1'), service('web-v2'));
  const delta = b.apply(
    up(
      httpRoute('canary', [{ backendRefs: [backend('web-v1', 80, { weight: 90 }), backend('web-v2', 80, { weight: 10 })] }], {
        resourceVersion: '7',
      }),
    ),
  );
  assert.equal(delta.sets.upserted.length, 1);
  const set = setOf(b, WEB);
  assert.deepEqual(set.parent, { kind: 'Service', namespace: 'demo', hostname: 'web.demo.svc.cluster.local' });
  assert.deepEqual(set.rules[0]?.backends, [
    { weight: 90, filters: [], service: { namespace: 'demo', hostname: 'web-v1.demo.svc.cluster.local', port: 80 } },
    { weight: 10, filters: [], service: { namespace: 'demo', hostname: 'web-v2.demo.svc.cluster.local', port: 80 } },
  ]);
  assert.deepEqual(set.rules[0]?.route, 'demo/canary');
  assert.deepEqual(set.entries, [{ match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }, rule: 0 }]);
  assert.deepEqual(delta.status, [
    {
      kind: 'HTTPRoute',
      namespace: 'demo',
      name: 'canary',
      generation: 1,
      resourceVersion: '7',
      otherParents: [],
      parents: [
        {
          parentRef: { group: '', kind: 'Service', name: 'web' },
          controllerName: 'istio.io/mesh-controller',
          conditions: [
            { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid' },
            { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'All references resolved' },
          ],
        },
      ],
    },
  ]);
});

test('invalid backendRefs keep their weight with a reason; ResolvedRefs says which (BackendNotFound, InvalidKind)', () => {
  const b = builder(service('web'), service('web-v1'));
  const delta = b.apply(
    up(
      httpRoute('r', [
        {
          backendRefs: [
            backend('web-v1', 80, { weight: 3 }),
            backend('missing', 80, { weight: 2 }),
            backend('web-v1', 81),
            backend('web-v1', undefined),
            backend('bucket', 80, { group: 'storage.example.com', kind: 'Bucket' }),
          ],
        },
      ]),
    ),
  );
  assert.deepEqual(
    setOf(b, WEB).rules[0]?.backends.map((x) => [x.weight, x.service?.hostname, x.invalidReason]),
    [
      [3, 'web-v1.demo.svc.cluster.local', undefined],
      [2, undefined, 'spec.rules[0].backendRefs[1]: Service demo/missing not found'],
      [1, undefined, 'spec.rules[0].backendRefs[2]: Service demo/web-v1 has no TCP port 81'],
      [1, undefined, 'spec.rules[0].backendRefs[3]: port is required for a Service backend'],
      [1, undefined, 'spec.rules[0].backendRefs[4]: storage.example.com/Bucket is not a supported backend (only core Services)'],
    ],
  );
  assert.deepEqual(conditionsOf(delta), ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound']);
  assert.match(
    messageOf(delta.status[0], 'ResolvedRefs'),
    /missing not found; .*no TCP port 81; .*port is required.*; .*Bucket is not a supported backend/,
  );

  // The Service appears: only this route is re-resolved, and its set and status follow.
  const after = b.apply(up(service('missing')));
  assert.equal(after.sets.upserted.length, 1);
  assert.equal(setOf(b, WEB).rules[0]?.backends[1]?.service?.hostname, 'missing.demo.svc.cluster.local');
  assert.equal(after.status.length, 1);
  const unrelated = b.apply(up(service('unrelated')));
  assert.deepEqual([unrelated.sets.upserted.length, unrelated.status.length], [0, 0], 'a Service nobody names changes nothing');
});

test('a backend in another namespace needs a ReferenceGrant there (RefNotPermitted until then)', () => {
  const b = builder(service('web'), service('db', { ns: 'data' }));
  const route = httpRoute('r', [{ backendRefs: [backend('db', 80, { namespace: 'data' })] }]);
  assert.deepEqual(conditionsOf(b.apply(up(route))), ['Accepted=True/Accepted', 'ResolvedRefs=False/RefNotPermitted']);
  assert.match(setOf(b, WEB).rules[0]?.backends[0]?.invalidReason ?? '', /no ReferenceGrant there allows it/);

  // A grant for another kind, another namespace or another name does not help.
  b.apply(up(referenceGrant('g1', 'data', [{ kind: 'GRPCRoute', namespace: 'demo' }])));
  b.apply(up(referenceGrant('g2', 'data', [{ kind: 'HTTPRoute', namespace: 'elsewhere' }])));
  b.apply(up(referenceGrant('g3', 'data', [{ kind: 'HTTPRoute', namespace: 'demo' }], [{ name: 'other' }])));
  assert.equal(setOf(b, WEB).rules[0]?.backends[0]?.service, undefined);
  const granted = b.apply(up(referenceGrant('g4', 'data', [{ kind: 'HTTPRoute', namespace: 'demo' }], [{ name: 'db' }])));
  assert.deepEqual(setOf(b, WEB).rules[0]?.backends[0]?.service, { namespace: 'data', hostname: 'db.data.svc.cluster.local', port: 80 });
  assert.deepEqual(conditionsOf(granted), ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
  const revoked = b.apply(del(referenceGrant('g4', 'data', [])));
  assert.deepEqual(conditionsOf(revoked), ['Accepted=True/Accepted', 'ResolvedRefs=False/RefNotPermitted']);
});

test('parents: a missing Service, a waypoint Gateway and its listeners, another class left alone', () => {
  const b = builder(service('web'), gateway('wp'), gateway('public', { className: 'nginx' }), namespace('demo'), namespace('team'));
  assert.deepEqual(conditionsOf(b.apply(up(httpRoute('r1', [{}], { parentRefs: [serviceParent('nope')] })))), [
    'Accepted=False/NoMatchingParent',
    'ResolvedRefs=True/ResolvedRefs',
  ]);
  b.apply(up(httpRoute('r2', [{}], { parentRefs: [gatewayParent('wp', { sectionName: 'mesh' })] })));
  assert.deepEqual(setOf(b, 'Gateway/demo/wp').parent, { kind: 'Gateway', namespace: 'demo', name: 'wp' });

  const cases: Array<[Record<string, unknown>, string[], RegExp]> = [
    [
      httpRoute('r3', [{}], { parentRefs: [gatewayParent('wp', { sectionName: 'http' })] }),
      ['Accepted=False/NoMatchingParent'],
      /no listener with sectionName http/,
    ],
    [
      httpRoute('r4', [{}], { parentRefs: [gatewayParent('wp', { port: 80 })] }),
      ['Accepted=False/NoMatchingParent'],
      /no listener with port 80/,
    ],
    [httpRoute('r5', [{}], { parentRefs: [gatewayParent('gone')] }), ['Accepted=False/NoMatchingParent'], /Gateway demo\/gone not found/],
    [
      httpRoute('r6', [{}], { ns: 'team', parentRefs: [gatewayParent('wp', { namespace: 'demo' })] }),
      ['Accepted=False/NotAllowedByListeners'],
      /allowedRoutes/,
    ],
    [
      httpRoute('r7', [{}], { parentRefs: [gatewayParent('wp')], hostnames: ['web.example'] }),
      ['Accepted=False/UnsupportedValue'],
      /spec\.hostnames/,
    ],
    [
      httpRoute('r8', [{}], { ns: 'team', parentRefs: [serviceParent('web', { namespace: 'demo' })] }),
      ['Accepted=False/UnsupportedValue'],
      /consumer routes/,
    ],
  ];
  for (const [route, accepted, message] of cases) {
    const d = b.apply(up(route));
    assert.deepEqual(conditionsOf(d).slice(0, 1), accepted, JSON.stringify(route['metadata']));
    assert.match(messageOf(d.status[0], 'Accepted'), message);
  }
  // Another controller's Gateway: no status entry of ours, no set, nothing emitted.
  const theirs = b.apply(up(httpRoute('r9', [{}], { parentRefs: [gatewayParent('public')] })));
  assert.deepEqual(theirs.status, []);
  assert.deepEqual(theirs.sets.upserted, []);
  assert.deepEqual(b.snapshot().map(setKeyOf), ['Gateway/demo/wp'], 'only the accepted attachment has a set');
});

test('allowedRoutes: All and a namespace Selector admit routes from other namespaces; a label change re-decides', () => {
  const open = {
    ...gateway('wp'),
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [
        {
          name: 'mesh',
          port: 15008,
          protocol: 'HBONE',
          allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { mesh: 'yes' } } } },
        },
      ],
    },
  };
  const b = builder(open, namespace('team'));
  const route = httpRoute('r', [{}], { ns: 'team', parentRefs: [gatewayParent('wp', { namespace: 'demo' })] });
  assert.deepEqual(conditionsOf(b.apply(up(route))).slice(0, 1), ['Accepted=False/NotAllowedByListeners']);
  const labelled = b.apply(up(namespace('team', { mesh: 'yes' })));
  assert.deepEqual(conditionsOf(labelled).slice(0, 1), ['Accepted=True/Accepted']);
  assert.equal(labelled.sets.upserted.length, 1);
  const unlabelled = b.apply(up(namespace('team')));
  assert.deepEqual(unlabelled.sets.removed, ['Gateway/demo/wp']);
});

test('dropped rules: PartiallyInvalid while a valid rule is left, Accepted=False when none is', () => {
  const b = builder(service('web'));
  const partial = b.apply(up(httpRoute('r', [{ filters: [{ type: 'RequestMirror' }] }, { backendRefs: [backend('web', 80)] }])));
  assert.deepEqual(conditionsOf(partial), [
    'Accepted=True/Accepted',
    'ResolvedRefs=True/ResolvedRefs',
    'PartiallyInvalid=True/UnsupportedValue',
  ]);
  assert.match(
    messageOf(partial.status[0], 'PartiallyInvalid'),
    /^Dropped Rule\(s\) 0: spec\.rules\[0\]\.filters\[0\]\.type: filter RequestMirror is not supported/,
  );
  assert.equal(setOf(b, WEB).rules.length, 1);
  assert.equal(setOf(b, WEB).rules[0]?.ruleIndex, 1);

  const none = b.apply(up(httpRoute('r', [{ filters: [{ type: 'RequestMirror' }] }])));
  assert.deepEqual(conditionsOf(none), ['Accepted=False/UnsupportedValue', 'ResolvedRefs=True/ResolvedRefs']);
  assert.match(messageOf(none.status[0], 'Accepted'), /^no rule can be applied: /);
  assert.deepEqual(none.sets.removed, [WEB], 'no rule left: the parent has no set');
});

test('incremental: a change to one route rebuilds only its parents; a delete removes the set and the status', () => {
  const b = builder(service('web'), service('api'), service('web-v1'));
  b.apply(up(httpRoute('a', [{ backendRefs: [backend('web-v1', 80)] }])));
  b.apply(up(httpRoute('b', [{ backendRefs: [backend('web-v1', 80)] }], { parentRefs: [serviceParent('api')] })));
  const changed = b.apply(up(httpRoute('a', [{ backendRefs: [backend('web-v1', 80, { weight: 5 })] }], { generation: 2 })));
  assert.deepEqual(changed.sets.upserted.map(setKeyOf), [WEB]);
  assert.equal(changed.status[0]?.generation, 2);
  const same = b.apply(up(httpRoute('a', [{ backendRefs: [backend('web-v1', 80, { weight: 5 })] }], { generation: 2 })));
  assert.deepEqual(same.sets.upserted, [], 'an identical route publishes nothing');
  assert.equal(same.status.length, 1, 'but its status is offered again (the writer skips unchanged bodies)');

  const gone = b.apply(del(httpRoute('a', [])));
  assert.deepEqual(gone.sets.removed, [WEB]);
  assert.deepEqual(gone.deletedRoutes, [{ kind: 'HTTPRoute', namespace: 'demo', name: 'a' }]);
  assert.deepEqual(b.snapshot().map(setKeyOf), ['Service/demo/api.demo.svc.cluster.local']);
});

test('a port-specific parent set also holds the routes attached to the whole Service', () => {
  const b = builder(
    service('web', {
      ports: [
        { name: 'http', port: 80 },
        { name: 'grpc', port: 9000 },
      ],
    }),
    service('web-v1'),
  );
  b.apply(up(httpRoute('all', [{ backendRefs: [backend('web-v1', 80)] }], { created: '2026-01-01T00:00:00Z' })));
  b.apply(
    up(
      httpRoute('p80', [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [backend('web-v1', 80)] }], {
        parentRefs: [serviceParent('web', { port: 80 })],
      }),
    ),
  );
  assert.deepEqual(
    setOf(b, `${WEB}:80`).rules.map((r) => r.route),
    ['demo/all', 'demo/p80'],
  );
  assert.deepEqual(
    setOf(b, WEB).rules.map((r) => r.route),
    ['demo/all'],
  );
  // A change to the whole-Service route reaches the port's set too.
  const changed = b.apply(up(httpRoute('all', [{ backendRefs: [backend('web-v1', 80, { weight: 7 })] }])));
  assert.deepEqual(changed.sets.upserted.map(setKeyOf).sort(), [WEB, `${WEB}:80`]);
  // sectionName names a port of the Service.
  b.apply(up(grpcRoute('g', [{ backendRefs: [backend('web-v1', 80)] }], { parentRefs: [serviceParent('web', { sectionName: 'grpc' })] })));
  assert.deepEqual(
    setOf(b, `${WEB}:9000`).rules.map((r) => `${r.kind} ${r.route}`),
    ['HTTPRoute demo/all', 'GRPCRoute demo/g'],
  );
  // The port-specific route goes: its set goes; the whole-Service set stays.
  const gone = b.apply(del(httpRoute('p80', [])));
  assert.deepEqual(gone.sets.removed, [`${WEB}:80`]);
});

test('status: other controllers entries are carried; no entry of ours is written for routes that are not ours', () => {
  const theirs = { parentRef: { name: 'public' }, controllerName: 'example.com/gw', conditions: [{ type: 'Accepted', status: 'True' }] };
  const b = builder(service('web'), gateway('public', { className: 'nginx' }));
  const d = b.apply(
    up(httpRoute('r', [{}], { parentRefs: [serviceParent('web'), gatewayParent('public')], status: { parents: [theirs] } })),
  );
  assert.deepEqual(d.status[0]?.otherParents, [theirs]);
  assert.deepEqual(
    d.status[0]?.parents.map((p) => p.parentRef),
    [{ group: '', kind: 'Service', name: 'web' }],
  );
  // A route whose only parent is another controller's, and that has no entry of ours: nothing to write.
  assert.deepEqual(b.apply(up(httpRoute('t', [{}], { parentRefs: [gatewayParent('public')], status: { parents: [theirs] } }))).status, []);
  // ...but if it still carries an entry of ours (it used to be ours), an empty set of ours is written to remove it.
  const ours = { parentRef: { name: 'wp' }, controllerName: 'istio.io/mesh-controller', conditions: [] };
  const stale = b.apply(up(httpRoute('t', [{}], { parentRefs: [gatewayParent('public')], status: { parents: [theirs, ours] } })));
  assert.deepEqual(stale.status[0]?.parents, []);
  assert.deepEqual(stale.status[0]?.otherParents, [theirs]);
});

test('a route that does not read is reported, and its last good version stays in force', () => {
  const b = builder(service('web'), service('web-v1'));
  b.apply(up(httpRoute('r', [{ backendRefs: [backend('web-v1', 80)] }])));
  const bad = b.apply(up({ ...httpRoute('r', []), spec: { parentRefs: 'web' } }));
  assert.deepEqual(bad.errors, [
    { object: 'HTTPRoute demo/r', field: 'spec.parentRefs', message: 'HTTPRoute demo/r: spec.parentRefs: must be a list, got "web"' },
  ]);
  assert.equal(setOf(b, WEB).rules[0]?.backends[0]?.service?.hostname, 'web-v1.demo.svc.cluster.local');
});
