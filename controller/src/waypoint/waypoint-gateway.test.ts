import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeObjectError } from '@ambit/core';
import { parseWaypointGateway, type WaypointGateway } from './waypoint-gateway.ts';

function gw(spec: Record<string, unknown>, labels: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'mesh', uid: 'u-1', generation: 3, labels },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }], ...spec },
  };
}

function waypoint(obj: Record<string, unknown>): WaypointGateway {
  const parsed = parseWaypointGateway(obj);
  assert.equal(parsed.kind, 'waypoint');
  return (parsed as { gateway: WaypointGateway }).gateway;
}

test('a valid waypoint: identity, generation, waypoint-for and infrastructure', () => {
  const g = waypoint(
    gw(
      { infrastructure: { labels: { team: 'a', 'example.com/tier': 'l7' }, annotations: { 'example.com/note': 'any value at all' } } },
      {
        'istio.io/waypoint-for': 'all',
      },
    ),
  );
  assert.deepEqual(g, {
    namespace: 'mesh',
    name: 'waypoint',
    uid: 'u-1',
    generation: 3,
    waypointFor: 'all',
    infrastructure: { labels: { team: 'a', 'example.com/tier': 'l7' }, annotations: { 'example.com/note': 'any value at all' } },
    problem: undefined,
  });
});

test('other gateway classes are not ours', () => {
  assert.deepEqual(parseWaypointGateway(gw({ gatewayClassName: 'istio' })), { kind: 'other' });
});

const problems: ReadonlyArray<{ name: string; spec: Record<string, unknown>; reason: string; field: string; says: RegExp }> = [
  {
    name: 'no listeners',
    spec: { listeners: [] },
    reason: 'ListenersNotValid',
    field: 'spec.listeners',
    says: /protocol HBONE on port 15008/,
  },
  {
    name: 'an HTTP listener only',
    spec: { listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] },
    reason: 'ListenersNotValid',
    field: 'spec.listeners',
    says: /needs a listener with protocol HBONE/,
  },
  {
    name: 'HBONE on another port',
    spec: {
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP' },
        { name: 'mesh', port: 15009, protocol: 'HBONE' },
      ],
    },
    reason: 'ListenersNotValid',
    field: 'spec.listeners[1].port',
    says: /must be on port 15008, got 15009/,
  },
  {
    name: 'a label key with spaces',
    spec: { infrastructure: { labels: { 'bad key': 'x' } } },
    reason: 'InvalidParameters',
    field: 'spec.infrastructure.labels[bad key]',
    says: /not a qualified name/,
  },
  {
    name: 'a label value that is too long',
    spec: { infrastructure: { labels: { team: 'x'.repeat(64) } } },
    reason: 'InvalidParameters',
    field: 'spec.infrastructure.labels[team]',
    says: /not a valid label value/,
  },
  {
    name: 'a label value YAML read as a number',
    spec: { infrastructure: { labels: { version: 2 } } },
    reason: 'InvalidParameters',
    field: 'spec.infrastructure.labels[version]',
    says: /must be a string, got number 2 \(quote it in YAML\)/,
  },
  {
    name: 'an annotation key with an upper-case prefix',
    spec: { infrastructure: { annotations: { 'Example.com/x': 'y' } } },
    reason: 'InvalidParameters',
    field: 'spec.infrastructure.annotations[Example.com/x]',
    says: /prefix "Example.com" is not a DNS subdomain/,
  },
];
for (const p of problems) {
  test(`not accepted: ${p.name} (${p.reason}, ${p.field})`, () => {
    const problem = waypoint(gw(p.spec)).problem;
    assert.equal(problem?.reason, p.reason);
    assert.equal(problem?.field, p.field);
    assert.match(problem?.message ?? '', p.says);
  });
}

test('unreadable metadata or spec throws a KubeObjectError naming the object and field', () => {
  assert.throws(
    () => parseWaypointGateway({ kind: 'Gateway', metadata: { name: 'w', namespace: 'mesh' }, spec: 'nope' }),
    (err: unknown) => err instanceof KubeObjectError && /Gateway mesh\/w/.test(err.message) && err.field === 'spec',
  );
});
