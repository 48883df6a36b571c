import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { decodeL7Authorization, L7_AUTHORIZATION_TYPE_URL } from '@ambit/core/policy';
import { eventually } from '@ambit/core/testing';
import { authorizationPolicy, gateway } from '../../testing/kube-objects.ts';
import { harness } from '../../testing/xds-harness.ts';
import type { Condition, StatusTarget } from '../status/status-writer.ts';
import { L7AuthorizationBuilder } from './l7-builder.ts';
import { createL7Publisher } from './l7-publisher.ts';

test('L7 policies reach a subscribed waypoint over delta-xDS, decode there, follow updates and removals; status is WaypointAccepted', async (t) => {
  const h = harness(t);
  const server = await h.server({ debounceMs: 0 });
  const writes: Array<{ target: StatusTarget; conditions: readonly Condition[] }> = [];
  const l7 = new L7AuthorizationBuilder();
  const publish = createL7Publisher({
    xds: server,
    status: { set: async (target, conditions) => void writes.push({ target, conditions }) },
    log: silentLogger(),
  });
  const apply = (type: 'upsert' | 'delete', object: Record<string, unknown>): void => publish(l7.apply({ type, object }));

  const waypoint = h.subscribe(server.address, L7_AUTHORIZATION_TYPE_URL, decodeL7Authorization);

  const ref = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' };
  apply('upsert', gateway('waypoint'));
  apply(
    'upsert',
    authorizationPolicy('everything', {
      targetRefs: [ref],
      rules: [
        {
          from: [
            { source: { principals: ['cluster.local/ns/demo/sa/client'], remoteIpBlocks: ['10.0.0.0/8'], notServiceAccounts: ['x'] } },
          ],
          to: [{ operation: { hosts: ['API.demo'], ports: ['80'], methods: ['GET'], paths: ['/public/*'], notPaths: ['*.secret'] } }],
          when: [
            { key: 'request.headers[X-Tenant]', values: ['t1'] },
            { key: 'destination.port', values: ['80'] },
            { key: 'connection.sni', notValues: ['*'] },
          ],
        },
      ],
    }),
  );
  await eventually(() => assert.deepEqual(waypoint.held().get('demo/everything'), l7.snapshot()[0]), 2000);
  assert.deepEqual(
    writes.map((w) => [w.target.plural, w.target.name, w.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join()]),
    [['authorizationpolicies', 'everything', 'WaypointAccepted=True/Accepted']],
  );

  apply('upsert', authorizationPolicy('everything', { targetRefs: [ref], action: 'DENY', rules: [{}] }));
  await eventually(() => assert.equal(waypoint.held().get('demo/everything')?.action, 'DENY'), 1000);

  apply('delete', authorizationPolicy('everything', {}));
  await eventually(() => assert.equal(waypoint.held().size, 0), 1000);
  assert.deepEqual(waypoint.nacks, []);
});
