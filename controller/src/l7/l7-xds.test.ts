import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { decodeL7Authorization, L7_AUTHORIZATION_TYPE_URL, type L7Authorization } from '@ambit/core/policy';
import { eventually } from '@ambit/core/testing';
import { createXdsClient, xdsType } from '@ambit/core/xds';
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

  const nacks: string[] = [];
  const client = createXdsClient({
    target: server.address,
    node: { id: 'router~10.244.1.9~wp-abc.demo~demo.svc.cluster.local' },
    types: [
      xdsType<L7Authorization>({
        typeUrl: L7_AUTHORIZATION_TYPE_URL,
        decode: (name, bytes) => {
          try {
            return decodeL7Authorization(name, bytes);
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
  const held = (): Map<string, L7Authorization> => new Map(client.state<L7Authorization>(L7_AUTHORIZATION_TYPE_URL));

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
  await eventually(() => assert.deepEqual(held().get('demo/everything'), l7.snapshot()[0]), 2000);
  assert.deepEqual(
    writes.map((w) => [w.target.plural, w.target.name, w.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`).join()]),
    [['authorizationpolicies', 'everything', 'WaypointAccepted=True/Accepted']],
  );

  apply('upsert', authorizationPolicy('everything', { targetRefs: [ref], action: 'DENY', rules: [{}] }));
  await eventually(() => assert.equal(held().get('demo/everything')?.action, 'DENY'), 1000);

  apply('delete', authorizationPolicy('everything', {}));
  await eventually(() => assert.equal(held().size, 0), 1000);
  assert.deepEqual(nacks, []);
});
