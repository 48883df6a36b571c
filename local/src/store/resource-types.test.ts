import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResourceTypeRegistry, guessPlural, parseApiVersion, typesFromCrd } from './resource-types.ts';

void describe('resource types', () => {
  const pluralCases: Array<[string, string]> = [
    ['Pod', 'pods'],
    ['Ingress', 'ingresses'],
    ['Box', 'boxes'],
    ['Match', 'matches'],
    ['Mesh', 'meshes'],
    ['Policy', 'policies'],
    ['Gateway', 'gateways'],
    ['Endpoints', 'endpointses'],
  ];
  for (const [kind, plural] of pluralCases) {
    void it(`guesses ${kind} → ${plural}`, () => assert.equal(guessPlural(kind), plural));
  }

  void it('looks built-ins up by resource, kind and short name', () => {
    const r = new ResourceTypeRegistry();
    assert.equal(r.byResource('', 'v1', 'pods')?.kind, 'Pod');
    assert.equal(r.byKind('apps/v1', 'Deployment')?.plural, 'deployments');
    assert.equal(r.byShortName('ap')?.kind, 'AuthorizationPolicy');
    assert.equal(r.byShortName('crd')?.namespaced, false);
    assert.equal(r.byKind('gateway.networking.k8s.io/v1', 'GatewayClass')?.namespaced, false);
    assert.equal(r.byKind('gateway.networking.k8s.io/v1', 'HTTPRoute')?.hasStatus, true);
    assert.equal(r.byKind('gateway.networking.k8s.io/v1', 'GRPCRoute')?.plural, 'grpcroutes');
    assert.equal(r.byKind('gateway.networking.k8s.io/v1beta1', 'ReferenceGrant')?.plural, 'referencegrants');
    assert.equal(r.resolve('deploy')?.kind, 'Deployment');
    assert.equal(r.resolve('deployments.apps')?.kind, 'Deployment');
    assert.equal(r.resolve('pod')?.plural, 'pods');
    assert.equal(r.resolve('nosuch'), undefined);
  });

  void it('registers unknown kinds with a guessed plural, once', () => {
    const r = new ResourceTypeRegistry();
    const t = r.registerKind('example.com/v1alpha1', 'NetworkPolicy', true);
    assert.deepEqual([t.group, t.version, t.plural, t.namespaced], ['example.com', 'v1alpha1', 'networkpolicies', true]);
    assert.equal(r.registerKind('example.com/v1alpha1', 'NetworkPolicy', false), t);
    assert.ok(r.groups().includes('example.com'));
  });

  void it('derives served versions from a CRD', () => {
    const types = typesFromCrd({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Cluster',
        names: { plural: 'widgets', kind: 'Widget', shortNames: ['wd'] },
        versions: [
          { name: 'v1', served: true, storage: true, subresources: { status: {} } },
          { name: 'v1beta1', served: false },
          { name: 'v2', served: true },
        ],
      },
    });
    assert.deepEqual(
      types.map((t) => [t.version, t.singular, t.namespaced, t.hasStatus, t.shortNames]),
      [
        ['v1', 'widget', false, true, ['wd']],
        ['v2', 'widget', false, false, ['wd']],
      ],
    );
  });

  void it('parses apiVersion', () => {
    assert.deepEqual(parseApiVersion('v1'), { group: '', version: 'v1' });
    assert.deepEqual(parseApiVersion('apps/v1'), { group: 'apps', version: 'v1' });
  });
});
