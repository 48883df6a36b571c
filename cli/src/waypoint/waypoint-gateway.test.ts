import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeConditions, isProgrammed, updatedWaypointGateway, waypointGateway, waypointRow, waypointsOf } from './waypoint-gateway.ts';

const status = (conditions: object[]): object => ({ conditions });

describe('waypoint Gateway objects', () => {
  it("apply creates istioctl's Gateway: class istio-waypoint, listener mesh 15008 HBONE, the traffic label only when given", () => {
    assert.deepEqual(waypointGateway('demo', 'waypoint', undefined), {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: 'demo' },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    assert.deepEqual(waypointGateway('demo', 'wp', 'workload')['metadata'], {
      name: 'wp',
      namespace: 'demo',
      labels: { 'istio.io/waypoint-for': 'workload' },
    });
    assert.deepEqual(waypointGateway(undefined, 'wp', undefined)['metadata'], { name: 'wp' }, 'generate without -n');
  });

  it('an update sets its own fields and keeps the rest (other labels and listeners, status, resourceVersion)', () => {
    const existing = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'wp', namespace: 'demo', resourceVersion: '7', labels: { team: 'a', 'istio.io/waypoint-for': 'service' } },
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [
          { name: 'extra', port: 15009, protocol: 'HBONE' },
          { name: 'mesh', port: 1, protocol: 'TCP', allowedRoutes: { namespaces: { from: 'Same' } } },
        ],
        infrastructure: { labels: { x: 'y' } },
      },
      status: status([{ type: 'Programmed', status: 'True' }]),
    };
    const updated = updatedWaypointGateway(existing, 'all');
    assert.deepEqual(updated['metadata'], {
      name: 'wp',
      namespace: 'demo',
      resourceVersion: '7',
      labels: { team: 'a', 'istio.io/waypoint-for': 'all' },
    });
    assert.deepEqual(updated['spec'], {
      gatewayClassName: 'istio-waypoint',
      listeners: [
        { name: 'extra', port: 15009, protocol: 'HBONE' },
        { name: 'mesh', port: 15008, protocol: 'HBONE', allowedRoutes: { namespaces: { from: 'Same' } } },
      ],
      infrastructure: { labels: { x: 'y' } },
    });
    assert.deepEqual(updated['status'], existing.status);
    const noLabel = updatedWaypointGateway({ metadata: { name: 'wp' }, spec: {} }, undefined);
    assert.deepEqual(noLabel['metadata'], { name: 'wp' });
    assert.deepEqual((noLabel['spec'] as { listeners: unknown[] }).listeners, [{ name: 'mesh', port: 15008, protocol: 'HBONE' }]);
  });

  it("list rows: istioctl's defaults for a missing revision, traffic type and Programmed condition", () => {
    assert.deepEqual(waypointRow({ metadata: { name: 'wp', namespace: 'demo' } }), {
      namespace: 'demo',
      name: 'wp',
      revision: 'default',
      trafficType: 'none',
      programmed: 'False',
    });
    const gw = {
      metadata: { name: 'wp', namespace: 'demo', labels: { 'istio.io/waypoint-for': 'service', 'istio.io/rev': 'r1' } },
      status: status([
        { type: 'Accepted', status: 'True' },
        { type: 'Programmed', status: 'True' },
      ]),
    };
    assert.deepEqual(waypointRow(gw), { namespace: 'demo', name: 'wp', revision: 'r1', trafficType: 'service', programmed: 'True' });
    assert.equal(isProgrammed(gw), true);
  });

  it('only waypoint Gateways are listed, by namespace then name', () => {
    const gw = (ns: string, name: string, cls = 'istio-waypoint'): Record<string, unknown> => ({
      metadata: { name, namespace: ns },
      spec: { gatewayClassName: cls },
    });
    const names = waypointsOf([gw('b', 'x'), gw('a', 'z'), gw('a', 'ingress', 'istio'), gw('a', 'y')]).map((g) =>
      JSON.stringify(g['metadata']),
    );
    assert.deepEqual(names, ['{"name":"y","namespace":"a"}', '{"name":"z","namespace":"a"}', '{"name":"x","namespace":"b"}']);
  });

  it('describes conditions for progress and the timeout error', () => {
    assert.match(describeConditions({}), /no status conditions yet/);
    assert.equal(
      describeConditions({
        status: status([
          { type: 'Accepted', status: 'True', reason: 'Accepted' },
          { type: 'Programmed', status: 'False', reason: 'NoResources', message: 'no ready waypoint pod' },
        ]),
      }),
      'Accepted=True (Accepted); Programmed=False (NoResources: no ready waypoint pod)',
    );
  });
});
