import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRouteSet, encodeRouteSet, routeSetKey, type RouteFilter } from '@ambit/core/routes';
import { service } from '../../testing/kube-objects.ts';
import { backend, grpcRoute, httpRoute } from '../../testing/route-objects.ts';
import { httpFault } from '../../testing/traffic-objects.ts';
import { RouteBuilder, type RouteDelta } from './route-builder.ts';

// HTTPRoute/GRPCRoute `ExtensionRef` filters naming an `ambit.dev` HTTPFault (contract 3): resolved to Fault filters,
// or kept as Invalid filters (500 for matching requests) with ResolvedRefs False, and re-resolved when the HTTPFault
// appears, changes or goes.

const up = (object: Record<string, unknown>) => ({ type: 'upsert' as const, object });
const del = (object: Record<string, unknown>) => ({ type: 'delete' as const, object });
const faultRef = (name: string, extra: Record<string, unknown> = {}) => ({
  type: 'ExtensionRef',
  extensionRef: { group: 'ambit.dev', kind: 'HTTPFault', name, ...extra },
});

function filtersOf(b: RouteBuilder, rule = 0): readonly RouteFilter[] {
  const set = b.snapshot()[0];
  assert.ok(set !== undefined, 'a route set');
  return set.rules[rule]?.filters ?? [];
}

function resolvedRefs(delta: RouteDelta): string {
  const c = delta.status.at(-1)?.parents[0]?.conditions.find((x) => x.type === 'ResolvedRefs');
  assert.ok(c !== undefined, 'a ResolvedRefs condition');
  return `${c.status}/${c.reason}: ${c.message}`;
}

test('an ExtensionRef to an HTTPFault becomes its Fault filter; a missing one is Invalid until it appears', () => {
  const b = new RouteBuilder();
  b.apply(up(service('web')));
  const missing = b.apply(up(httpRoute('faulty', [{ filters: [faultRef('slow')], backendRefs: [backend('web', 80)] }])));
  assert.deepEqual(filtersOf(b), [{ type: 'Invalid', reason: 'spec.rules[0].filters[0]: HTTPFault demo/slow not found (or never valid)' }]);
  assert.equal(resolvedRefs(missing), 'False/BackendNotFound: spec.rules[0].filters[0]: HTTPFault demo/slow not found (or never valid)');

  const appeared = b.apply(
    up(httpFault('slow', { delay: { fixedDelay: '200ms' }, abort: { percentage: { value: 10 }, httpStatus: 503 } })),
  );
  assert.deepEqual(filtersOf(b), [
    { type: 'Fault', fault: 'demo/slow', delay: { percent: 100, fixedDelayMs: 200 }, abort: { percent: 10, httpStatus: 503 } },
  ]);
  assert.equal(resolvedRefs(appeared), 'True/ResolvedRefs: All references resolved');
  assert.equal(appeared.sets.upserted.length, 1);

  // A change is followed; a bad version keeps the last good one in force; deletion makes the filter Invalid again.
  b.apply(up(httpFault('slow', { abort: { percentage: { value: 50 }, httpStatus: 500 } })));
  assert.deepEqual(filtersOf(b), [{ type: 'Fault', fault: 'demo/slow', abort: { percent: 50, httpStatus: 500 } }]);
  const bad = b.apply(up(httpFault('slow', { abort: { httpStatus: 500, grpcStatus: 'INTERNAL' } })));
  assert.deepEqual(bad.sets, { upserted: [], removed: [] });
  assert.deepEqual(filtersOf(b), [{ type: 'Fault', fault: 'demo/slow', abort: { percent: 50, httpStatus: 500 } }]);
  const gone = b.apply(del(httpFault('slow', {})));
  assert.equal(filtersOf(b)[0]?.type, 'Invalid');
  assert.match(resolvedRefs(gone), /^False\/BackendNotFound/);
});

test('an ExtensionRef of an unknown group or kind is an Invalid filter with ResolvedRefs InvalidKind; the rule is kept', () => {
  const b = new RouteBuilder();
  b.apply(up(service('web')));
  const delta = b.apply(
    up(
      httpRoute('r', [
        {
          filters: [
            { type: 'ExtensionRef', extensionRef: { group: 'example.com', kind: 'Magic', name: 'm' } },
            faultRef('x', { kind: 'HTTPDelay' }),
          ],
          backendRefs: [backend('web', 80)],
        },
      ]),
    ),
  );
  assert.deepEqual(filtersOf(b), [
    { type: 'Invalid', reason: 'spec.rules[0].filters[0]: ExtensionRef to example.com/Magic is not supported (only ambit.dev/HTTPFault)' },
    {
      type: 'Invalid',
      reason: 'spec.rules[0].filters[1]: ExtensionRef to ambit.dev/HTTPDelay is not supported (only ambit.dev/HTTPFault)',
    },
  ]);
  assert.match(resolvedRefs(delta), /^False\/InvalidKind: spec\.rules\[0\]\.filters\[0\]: ExtensionRef to example\.com\/Magic/);
  const accepted = delta.status.at(-1)?.parents[0]?.conditions.find((c) => c.type === 'Accepted');
  assert.equal(accepted?.status, 'True', 'the route stays attached: its other rules and backends work');
});

test('GRPCRoute rules take ExtensionRef filters too; a gRPC abort by name; the set decodes on the waypoint side', () => {
  const b = new RouteBuilder();
  b.apply(up(service('web')));
  b.apply(up(httpFault('unavailable', { abort: { percentage: { value: 25 }, grpcStatus: 'UNAVAILABLE' } })));
  b.apply(
    up(
      grpcRoute('g', [
        {
          matches: [{ method: { service: 'echo.Echo' } }],
          filters: [faultRef('unavailable'), faultRef('unavailable')],
          backendRefs: [backend('web', 80)],
        },
      ]),
    ),
  );
  const fault = { type: 'Fault', fault: 'demo/unavailable', abort: { percent: 25, grpcStatus: 14 } };
  assert.deepEqual(filtersOf(b), [fault, fault], 'ExtensionRef may repeat in a rule');
  for (const set of b.snapshot()) assert.deepEqual(decodeRouteSet(routeSetKey(set.parent), encodeRouteSet(set)), set);
});
