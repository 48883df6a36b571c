import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../kube/types.ts';
import { ApiError } from './api-error.ts';
import { parseSchema } from './crd-schema.ts';
import { FieldSet } from './field-set.ts';
import { ObjectStore } from './object-store.ts';
import { serverSideApply, trackUpdate, type ManagedFieldsEntry } from './server-side-apply.ts';

const store = new ObjectStore();
const deployType = store.typeOf({ apiVersion: 'apps/v1', kind: 'Deployment' });
const NOW = new Date('2026-12-07T12:00:00Z');

function deployment(containers: unknown[], extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { spec: { containers } }, ...extra },
  };
}

const apply = (live: KubeObject | undefined, config: KubeObject, manager: string, force = false): KubeObject =>
  serverSideApply({ type: deployType, live, config, manager, force, subresource: undefined, now: NOW });

const entries = (o: KubeObject): ManagedFieldsEntry[] => o.metadata['managedFields'] as ManagedFieldsEntry[];
const containersOf = (o: KubeObject): unknown =>
  ((o['spec'] as Record<string, unknown>)['template'] as Record<string, Record<string, unknown>>)['spec']?.['containers'];

void describe('server-side apply', () => {
  void it('creates with one Apply entry whose FieldsV1 keys list items by their merge key', () => {
    const created = apply(undefined, deployment([{ name: 'c', image: 'i:1' }]), 'kubectl');
    assert.deepEqual(entries(created), [
      {
        manager: 'kubectl',
        operation: 'Apply',
        apiVersion: 'apps/v1',
        time: '2026-12-07T12:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:spec': {
            'f:selector': { 'f:matchLabels': { 'f:app': {} } },
            'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"c"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } },
          },
        },
      },
    ]);
    // FieldsV1 reads back into the same set.
    const set = FieldSet.fromFieldsV1(entries(created)[0]?.fieldsV1);
    assert.deepEqual(set.toFieldsV1(), entries(created)[0]?.fieldsV1);
  });

  void it('merges lists by key, keeps what others own, removes what only this manager applied before', () => {
    let live = apply(undefined, deployment([{ name: 'a', image: 'a:1' }]), 'm1');
    live = apply(live, deployment([{ name: 'b', image: 'b:1' }]), 'm2');
    assert.deepEqual(containersOf(live), [
      { name: 'a', image: 'a:1' },
      { name: 'b', image: 'b:1' },
    ]);
    // m1 drops container a: it goes (nobody else owns it); m2's b stays.
    live = apply(live, deployment([]), 'm1');
    assert.deepEqual(containersOf(live), [{ name: 'b', image: 'b:1' }]);
    // A field both managers apply with the same value is shared, not a conflict.
    live = apply(live, deployment([{ name: 'b', image: 'b:1' }]), 'm1');
    assert.deepEqual(
      entries(live).map((e) => e.manager),
      ['m1', 'm2'],
    );
  });

  void it('refuses to change another manager’s field with apiserver’s wording, and moves it when forced', () => {
    const live = apply(undefined, deployment([{ name: 'c', image: 'i:1' }], { replicas: 2 }), 'kubectl');
    const config = deployment([{ name: 'c', image: 'i:2' }], { replicas: 3 });
    assert.throws(
      () => apply(live, config, 'ops'),
      (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 409);
        assert.equal(
          err.message,
          'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\n- .spec.template.spec.containers[name="c"].image',
        );
        assert.deepEqual(
          err.details?.causes?.map((c) => [c.reason, c.field]),
          [
            ['FieldManagerConflict', '.spec.replicas'],
            ['FieldManagerConflict', '.spec.template.spec.containers[name="c"].image'],
          ],
        );
        return true;
      },
    );
    const forced = apply(live, config, 'ops', true);
    assert.equal((forced['spec'] as Record<string, unknown>)['replicas'], 3);
    const kubectl = FieldSet.fromFieldsV1(entries(forced).find((e) => e.manager === 'kubectl')?.fieldsV1);
    assert.equal(kubectl.has([{ field: 'spec' }, { field: 'replicas' }]), false);
  });

  void it('an Update takes the fields it changes; applying over them then conflicts with the updater', () => {
    const live = apply(undefined, deployment([{ name: 'c', image: 'i:1' }], { replicas: 2 }), 'kubectl');
    const scaled = structuredClone(live);
    (scaled['spec'] as Record<string, unknown>)['replicas'] = 5;
    const managed = trackUpdate(deployType, live, scaled, 'kubectl-scale', undefined, NOW);
    scaled.metadata['managedFields'] = managed;
    assert.deepEqual(
      managed?.map((e) => [e.manager, e.operation]),
      [
        ['kubectl', 'Apply'],
        ['kubectl-scale', 'Update'],
      ],
    );
    assert.deepEqual(managed?.[1]?.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
    assert.throws(
      () => apply(scaled, deployment([{ name: 'c', image: 'i:1' }], { replicas: 2 }), 'kubectl'),
      /^ApiError: Apply failed with 1 conflict: conflict with "kubectl-scale" using apps\/v1 at 2026-12-07T12:00:00Z: \.spec\.replicas$/,
    );
  });

  void it('lists of a CRD are atomic unless its schema says x-kubernetes-list-type map or set', () => {
    const schema = parseSchema(
      {
        type: 'object',
        properties: {
          spec: {
            type: 'object',
            properties: {
              rules: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], items: { type: 'object' } },
              hosts: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
              ports: { type: 'array', items: { type: 'integer' } },
            },
          },
        },
      },
      '',
      [],
    );
    const type = {
      group: 'ambit.dev',
      version: 'v1',
      kind: 'Thing',
      plural: 'things',
      singular: 'thing',
      namespaced: true,
      hasStatus: false,
      schema,
    };
    const obj = (spec: Record<string, unknown>): KubeObject => ({
      apiVersion: 'ambit.dev/v1',
      kind: 'Thing',
      metadata: { name: 't' },
      spec,
    });
    const run = (live: KubeObject | undefined, spec: Record<string, unknown>, manager: string): KubeObject =>
      serverSideApply({ type, live, config: obj(spec), manager, force: false, subresource: undefined, now: NOW });
    let live = run(undefined, { rules: [{ name: 'a', v: 1 }], hosts: ['x'], ports: [1] }, 'one');
    live = run(live, { rules: [{ name: 'b', v: 2 }], hosts: ['y'] }, 'two');
    assert.deepEqual(live['spec'], {
      rules: [
        { name: 'a', v: 1 },
        { name: 'b', v: 2 },
      ],
      hosts: ['x', 'y'],
      ports: [1],
    });
    assert.throws(() => run(live, { ports: [2] }, 'two'), /conflict with "one": \.spec\.ports/);
  });
});
