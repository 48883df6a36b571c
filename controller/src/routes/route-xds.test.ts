import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { decodeRouteSet, ROUTE_SET_TYPE_URL, type RouteSet } from '@ambit/core/routes';
import { eventually } from '@ambit/core/testing';
import { createXdsClient, xdsType } from '@ambit/core/xds';
import { service } from '../../testing/kube-objects.ts';
import { backend, httpRoute } from '../../testing/route-objects.ts';
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
  const nacks: string[] = [];
  const client = createXdsClient({
    target: server.address,
    node: { id: 'waypoint~10.244.1.9~wp-abc.demo~demo.svc.cluster.local' },
    types: [
      xdsType<RouteSet>({
        typeUrl: ROUTE_SET_TYPE_URL,
        decode: (name, bytes) => {
          try {
            return decodeRouteSet(name, bytes);
          } catch (err) {
            nacks.push(String(err));
            throw err;
          }
        },
        onChange: () => undefined,
      }),
    ],
    log: silentLogger(),
    backoff: { initialMs: 20, maxMs: 200 },
  });
  h.defer(() => client.close());
  const sets = (): Map<string, RouteSet> => new Map(client.state<RouteSet>(ROUTE_SET_TYPE_URL));

  for (const name of ['web', 'web-v1', 'web-v2']) apply('upsert', service(name));
  apply('upsert', httpRoute('canary', [{ backendRefs: [backend('web-v1', 80, { weight: 90 }), backend('web-v2', 80, { weight: 10 })] }]));
  await eventually(() => assert.deepEqual(sets().get(WEB), routes.snapshot()[0]), 2000);
  assert.deepEqual(
    sets()
      .get(WEB)
      ?.rules[0]?.backends.map((b) => b.weight),
    [90, 10],
  );
  assert.deepEqual(statusWrites, ['httproutes/demo/canary']);

  apply('upsert', httpRoute('canary', [{ backendRefs: [backend('web-v1', 80, { weight: 0 }), backend('web-v2', 80, { weight: 100 })] }]));
  await eventually(
    () =>
      assert.deepEqual(
        sets()
          .get(WEB)
          ?.rules[0]?.backends.map((b) => b.weight),
        [0, 100],
      ),
    1000,
  );

  apply('delete', httpRoute('canary', []));
  await eventually(() => assert.equal(sets().size, 0), 1000);
  assert.deepEqual(statusWrites.at(-1), 'forget httproutes/demo/canary');
  assert.deepEqual(nacks, []);
});
