import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Service, Workload } from '@ambit/core';
import { makeService, makeWorkload, NS, type SeenRequest } from '../../testing/fixture.ts';
import { waypointRef } from '../../testing/mesh-fixtures.ts';
import { startScenario, VIP, type Scenario } from '../../testing/scenario.ts';

// The waypoint serves only destinations bound to its own Gateway (Istio's waypoint has filter chains for those alone).
let sc: Scenario;
before(async () => {
  sc = await startScenario();
});
after(async () => {
  await sc.close();
});

function unenrolled<T extends Service | Workload>(o: T): T {
  const { waypoint: _dropped, ...rest } = o;
  return rest as T;
}

test('only Services and workloads that name this waypoint are served; anything else is refused with 503', async () => {
  const ports = [{ servicePort: 80, targetPort: sc.v1.port, appProtocol: 'HTTP11' as const }];
  sc.fx.state.services.push(
    { ...makeService('elsewhere', '10.96.0.40', ports), waypoint: waypointRef(NS, 'other-waypoint') },
    { ...makeService('other-ns', '10.96.0.41', ports), waypoint: waypointRef('team-b', 'waypoint') },
    unenrolled(makeService('plain', '10.96.0.42', ports)),
  );
  sc.fx.state.workloads.push(unenrolled(makeWorkload('loose', '127.0.0.5', {})));
  sc.fx.state.bump();
  for (const authority of ['10.96.0.40:80', '10.96.0.41:80', '10.96.0.42:80', `127.0.0.5:${sc.v1.port}`]) {
    await assert.rejects(sc.fx.open(authority), /503/, authority);
  }
  // A bound Service and a bound pod (an `all` waypoint) are served, before and after the refusals.
  const res = await sc.client(`${VIP.svc}:80`).request({ path: '/bound', method: 'GET', headers: { host: 'svc' } });
  assert.equal(res.statusCode, 200);
  await res.body.text();
  const pod = await sc.client(`127.0.0.3:${sc.v2.port}`).request({ path: '/pod', method: 'GET' });
  assert.equal(((await pod.body.json()) as SeenRequest).backend, 'v2');
  assert.ok((sc.fx.listener.stats()['tunnelsRefused'] ?? 0) >= 4);
});
