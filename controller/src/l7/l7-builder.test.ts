import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { L7Authorization } from '@ambit/core/policy';
import { authorizationPolicy, gateway, namespace, NS, service } from '../../testing/kube-objects.ts';
import { ModelBuilder } from '../model/model-builder.ts';
import { L7AuthorizationBuilder, type L7Delta, type L7StatusUpdate } from './l7-builder.ts';

/** The model and the L7 builder fed the same events, in the controller's order (model first). */
function world() {
  const model = new ModelBuilder();
  const l7 = new L7AuthorizationBuilder();
  const published = new Map<string, L7Authorization>();
  const statuses: L7StatusUpdate[] = [];
  const apply = (type: 'upsert' | 'delete', object: Record<string, unknown>): L7Delta => {
    const delta = l7.apply({ type, object }, model.apply({ type, object }).services);
    for (const key of delta.policies.removed) published.delete(key);
    for (const p of delta.policies.upserted) published.set(`${p.namespace}/${p.name}`, p);
    statuses.push(...delta.status);
    return delta;
  };
  /** The last WaypointAccepted condition written for `name`. */
  const status = (name: string) => statuses.filter((s) => s.name === name).at(-1)?.condition;
  return { model, l7, apply, published, status, statuses };
}

const gatewayRef = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'waypoint' };
const serviceRef = (name: string) => ({ group: '', kind: 'Service', name });
const publicRead = (targetRefs: unknown[], extra: Record<string, unknown> = {}) =>
  authorizationPolicy('public-read', {
    targetRefs,
    rules: [{ to: [{ operation: { methods: ['GET'], paths: ['/public/*'] } }] }],
    ...extra,
  });

test('a Gateway target: TargetNotFound until the waypoint Gateway exists, published while it does', () => {
  const w = world();
  w.apply('upsert', namespace(NS));
  w.apply('upsert', publicRead([gatewayRef]));
  assert.equal(w.published.size, 0);
  assert.deepEqual(w.status('public-read'), {
    type: 'WaypointAccepted',
    status: 'False',
    reason: 'TargetNotFound',
    message: 'not enforced: spec.targetRefs[0] (Gateway demo/waypoint): Gateway not found',
  });

  w.apply('upsert', gateway('waypoint'));
  assert.deepEqual(w.published.get('demo/public-read'), {
    name: 'public-read',
    namespace: NS,
    action: 'ALLOW',
    dryRun: false,
    targets: [{ kind: 'Gateway', namespace: NS, name: 'waypoint' }],
    rules: [
      {
        from: [],
        to: [
          {
            hosts: [],
            notHosts: [],
            ports: [],
            notPorts: [],
            methods: [{ exact: 'GET' }],
            notMethods: [],
            paths: [{ prefix: '/public/' }],
            notPaths: [],
          },
        ],
        when: [],
      },
    ],
  });
  assert.deepEqual(w.status('public-read'), {
    type: 'WaypointAccepted',
    status: 'True',
    reason: 'Accepted',
    message: 'enforced by waypoint demo/waypoint.',
  });
  assert.deepEqual(w.l7.snapshot(), [w.published.get('demo/public-read')]);

  w.apply('delete', gateway('waypoint'));
  assert.equal(w.published.size, 0);
  assert.equal(w.status('public-read')?.reason, 'TargetNotFound');
});

test('a Gateway that is not a waypoint, a target in another namespace, an unsupported kind: not enforced, said so', () => {
  const w = world();
  w.apply('upsert', gateway('ingress', { className: 'istio' }));
  w.apply(
    'upsert',
    publicRead([
      { ...gatewayRef, name: 'ingress' },
      { ...gatewayRef, namespace: 'other' },
      { group: 'networking.istio.io', kind: 'ServiceEntry', name: 'x' },
      { kind: 'Gateway', name: 'waypoint' },
    ]),
  );
  assert.equal(w.published.size, 0);
  const c = w.status('public-read');
  assert.equal(c?.status, 'False');
  assert.equal(c?.reason, 'UnsupportedValue');
  assert.match(
    c?.message ?? '',
    /spec\.targetRefs\[0\] \(Gateway demo\/ingress\): not a waypoint \(gatewayClassName istio, not istio-waypoint\)/,
  );
  assert.match(c?.message ?? '', /spec\.targetRefs\[1\] \(Gateway other\/waypoint\): a target must be in the policy's namespace/);
  assert.match(
    c?.message ?? '',
    /spec\.targetRefs\[2\] \(ServiceEntry demo\/x\): kind ServiceEntry of group networking\.istio\.io is not supported/,
  );
  assert.match(
    c?.message ?? '',
    /spec\.targetRefs\[3\] \(Gateway demo\/waypoint\): a Gateway target needs group gateway\.networking\.k8s\.io, not core/,
  );
});

test('a Service target: its hostname, the waypoint that serves it named; withdrawn when the Service goes', () => {
  const w = world();
  w.apply('upsert', namespace(NS));
  w.apply('upsert', gateway('waypoint', { waypointFor: 'service' }));
  w.apply('upsert', authorizationPolicy('api-policy', { targetRef: serviceRef('api'), action: 'DENY', rules: [{}] }));
  assert.equal(w.status('api-policy')?.reason, 'TargetNotFound');
  w.apply('upsert', service('api', { labels: { 'istio.io/use-waypoint': 'waypoint' } }));
  assert.deepEqual(w.published.get('demo/api-policy')?.targets, [
    { kind: 'Service', namespace: NS, hostname: 'api.demo.svc.cluster.local' },
  ]);
  assert.deepEqual(w.status('api-policy'), {
    type: 'WaypointAccepted',
    status: 'True',
    reason: 'Accepted',
    message: 'enforced by waypoint demo/waypoint for Service demo/api.',
  });
  w.apply('delete', service('api'));
  assert.equal(w.published.size, 0);
  assert.equal(w.status('api-policy')?.reason, 'TargetNotFound');
});

test('one resolvable target of two: published for it, the other named', () => {
  const w = world();
  w.apply('upsert', gateway('waypoint'));
  w.apply('upsert', publicRead([gatewayRef, serviceRef('missing')]));
  assert.deepEqual(w.published.get('demo/public-read')?.targets, [{ kind: 'Gateway', namespace: NS, name: 'waypoint' }]);
  const c = w.status('public-read');
  assert.equal(c?.status, 'True');
  assert.equal(c?.reason, 'TargetNotFound');
  assert.equal(
    c?.message,
    'enforced by waypoint demo/waypoint. Not enforced for: spec.targetRefs[1] (Service demo/missing): Service not found.',
  );
});

test('requestPrincipals in an ALLOW: the rule is dropped and the status names the field; CUSTOM is rejected', () => {
  const w = world();
  w.apply('upsert', gateway('waypoint'));
  w.apply(
    'upsert',
    authorizationPolicy('jwt', {
      targetRefs: [gatewayRef],
      rules: [{ from: [{ source: { requestPrincipals: ['iss/sub'] } }] }, { to: [{ operation: { methods: ['GET'] } }] }],
    }),
  );
  assert.equal(w.published.get('demo/jwt')?.rules.length, 1);
  const c = w.status('jwt');
  assert.equal(c?.status, 'True');
  assert.equal(c?.reason, 'UnsupportedValue');
  assert.match(
    c?.message ?? '',
    /does not support spec\.rules\[0\]\.from\[0\]\.source\.requestPrincipals .*ALLOW policy the rules using them are omitted/,
  );

  w.apply('upsert', authorizationPolicy('jwt', { targetRefs: [gatewayRef], action: 'CUSTOM', rules: [{}] }));
  assert.equal(w.published.size, 0);
  assert.deepEqual(w.status('jwt'), {
    type: 'WaypointAccepted',
    status: 'False',
    reason: 'UnsupportedValue',
    message: 'the waypoint does not support the CUSTOM action',
  });
});

test('an invalid value keeps the last good version enforced, also across re-evaluations; a fix replaces it', () => {
  const w = world();
  w.apply('upsert', gateway('waypoint'));
  w.apply('upsert', publicRead([gatewayRef]));
  const good = w.published.get('demo/public-read');
  assert.ok(good !== undefined);
  const delta = w.apply('upsert', publicRead([gatewayRef], { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/40'] } }] }] }));
  assert.equal(delta.errors[0]?.field, 'spec.rules[0].from[0].source.ipBlocks[0]');
  assert.equal(w.published.get('demo/public-read'), good);
  const invalid = {
    type: 'WaypointAccepted',
    status: 'False',
    reason: 'Invalid',
    message: 'spec.rules[0].from[0].source.ipBlocks[0]: "10.0.0.0/40" is not an IP address or CIDR; the last valid version stays enforced',
  };
  assert.deepEqual(w.status('public-read'), invalid);
  w.apply('upsert', gateway('waypoint'));
  assert.deepEqual(w.status('public-read'), invalid, 'a Gateway event does not hide the problem');
  w.apply('upsert', publicRead([gatewayRef], { rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'] } }] }] }));
  assert.deepEqual(w.published.get('demo/public-read')?.rules[0]?.from[0]?.ipBlocks, [{ address: '10.0.0.0', length: 8 }]);
  assert.equal(w.status('public-read')?.reason, 'Accepted');
});

test('a first version that is invalid is not published and says why', () => {
  const w = world();
  w.apply('upsert', gateway('waypoint'));
  w.apply('upsert', publicRead([gatewayRef], { rules: [{ to: [{ operation: { ports: ['http'] } }] }] }));
  assert.equal(w.published.size, 0);
  assert.equal(w.status('public-read')?.message, 'spec.rules[0].to[0].operation.ports[0]: "http" is not a port 0..65535');
});

test('ztunnel never gets a targetRefs policy; a policy that drops its targetRefs moves from the waypoint to ztunnel and back', () => {
  const w = world();
  w.apply('upsert', gateway('waypoint'));
  const withRefs = publicRead([gatewayRef]);
  w.apply('upsert', withRefs);
  assert.deepEqual(w.model.snapshot().authorizations, []);
  assert.equal(w.published.size, 1);

  const before = w.statuses.length;
  const selectorPolicy = authorizationPolicy('public-read', { selector: { matchLabels: { app: 'api' } }, rules: [{}] });
  w.apply('upsert', selectorPolicy);
  assert.equal(w.published.size, 0);
  assert.equal(w.statuses.length, before, 'no waypoint status for a ztunnel policy');
  assert.deepEqual(
    w.model.snapshot().authorizations.map((a) => a.name),
    ['public-read'],
  );

  w.apply('upsert', withRefs);
  assert.deepEqual(w.model.snapshot().authorizations, []);
  assert.equal(w.published.size, 1);
  w.apply('delete', withRefs);
  assert.equal(w.published.size, 0);
  assert.deepEqual(w.l7.snapshot(), []);
});
