import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { decodeRouteSet, encodeRouteSet, ROUTE_SET_TYPE_URL, routeSetKey } from '@ambit/core/routes';
import { eventually } from '@ambit/core/testing';
import { service } from '../../testing/kube-objects.ts';
import { backend, grpcRoute, httpRoute } from '../../testing/route-objects.ts';
import { harness } from '../../testing/xds-harness.ts';
import { RouteBuilder } from './route-builder.ts';
import { createRoutePublisher } from './route-publisher.ts';

const WEB = 'Service/demo/web.demo.svc.cluster.local';

test('route sets reach a subscribed waypoint over delta-xDS, decode there, and follow updates and removals', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const statusWrites: string[] = [];
  const routes = new RouteBuilder();
  const publish = createRoutePublisher({
    xds: server,
    status: {
      setRouteParents: async (target) => void statusWrites.push(`${target.plural}/${target.namespace}/${target.name}`),
      forget: (target) => void statusWrites.push(`forget ${target.plural}/${target.namespace}/${target.name}`),
    },
    log: silentLogger(),
  });
  const apply = (type: 'upsert' | 'delete', object: Record<string, unknown>): void => publish(routes.apply({ type, object }));

  // A waypoint as wp-shell's state subscribes: the route type, decoded with core's decodeRouteSet (NACK on failure).
  const waypoint = h.subscribe(server.address, ROUTE_SET_TYPE_URL, decodeRouteSet);

  for (const name of ['web', 'web-v1', 'web-v2']) apply('upsert', service(name));
  apply('upsert', httpRoute('canary', [{ backendRefs: [backend('web-v1', 80, { weight: 90 }), backend('web-v2', 80, { weight: 10 })] }]));
  await eventually(() => assert.deepEqual(waypoint.held().get(WEB), routes.snapshot()[0]), 2000);
  assert.deepEqual(
    waypoint
      .held()
      .get(WEB)
      ?.rules[0]?.backends.map((b) => b.weight),
    [90, 10],
  );
  assert.deepEqual(statusWrites, ['httproutes/demo/canary']);

  apply('upsert', httpRoute('canary', [{ backendRefs: [backend('web-v1', 80, { weight: 0 }), backend('web-v2', 80, { weight: 100 })] }]));
  await eventually(
    () =>
      assert.deepEqual(
        waypoint
          .held()
          .get(WEB)
          ?.rules[0]?.backends.map((b) => b.weight),
        [0, 100],
      ),
    1000,
  );

  apply('delete', httpRoute('canary', []));
  await eventually(() => assert.equal(waypoint.held().size, 0), 1000);
  assert.deepEqual(statusWrites.at(-1), 'forget httproutes/demo/canary');
  assert.deepEqual(waypoint.nacks, []);
});

test('every kind of rule the controller produces decodes unchanged on the waypoint side (no NACK)', () => {
  const routes = new RouteBuilder();
  for (const name of ['web', 'web-v1', 'web-v2']) routes.apply({ type: 'upsert', object: service(name) });
  const hm = { set: [{ name: 'X-Set', value: 'a' }], add: [{ name: 'x-add', value: 'b' }], remove: ['x-gone'] };
  routes.apply({
    type: 'upsert',
    object: httpRoute('all-features', [
      {
        matches: [
          {
            path: { type: 'PathPrefix', value: '/api' },
            method: 'GET',
            headers: [{ name: 'X-Canary', value: 'true' }],
            queryParams: [{ name: 'v', value: '2' }],
          },
          { path: { type: 'PathPrefix', value: '/v2' } },
        ],
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: hm },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: hm },
          { type: 'URLRewrite', urlRewrite: { hostname: 'web.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
        ],
        backendRefs: [
          backend('web-v1', 80, { weight: 9, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: hm }] }),
          backend('nope', 80),
          backend('web-v2', undefined),
        ],
        timeouts: { request: '2s', backendRequest: '500ms' },
        retry: { attempts: 3, codes: [502, 503], backoff: '50ms' },
      },
      {
        matches: [{ path: { type: 'Exact', value: '/old' } }],
        filters: [
          {
            type: 'RequestRedirect',
            requestRedirect: {
              scheme: 'https',
              hostname: 'new.example',
              port: 8443,
              statusCode: 301,
              path: { type: 'ReplaceFullPath', replaceFullPath: '/new' },
            },
          },
        ],
      },
      {
        matches: [{ path: { type: 'RegularExpression', value: '/items/[0-9]+' } }],
        backendRefs: [backend('web-v2', 80)],
        retry: { attempts: 0 },
      },
      {},
    ]),
  });
  routes.apply({
    type: 'upsert',
    object: grpcRoute('grpc', [
      {
        matches: [
          { method: { service: 'echo.Echo', method: 'Say' } },
          { method: { method: 'Stream' } },
          { method: { type: 'RegularExpression', service: 'echo\\..+' } },
        ],
        backendRefs: [backend('web-v1', 80)],
      },
    ]),
  });
  const sets = routes.snapshot();
  assert.equal(sets.length, 1);
  for (const set of sets) {
    assert.deepEqual(decodeRouteSet(routeSetKey(set.parent), encodeRouteSet(set)), set);
  }
});
