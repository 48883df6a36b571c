import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../kube/types.ts';
import type { SourcedObject } from '../manifest/load.ts';
import { ObjectStore } from '../store/object-store.ts';
import { applyObjects, deleteObjects } from './apply.ts';
import { installCrds } from './crds.ts';
import { applyTarget } from './store-adapter.ts';

const src = (object: KubeObject, document = 1): SourcedObject => ({ file: 'm.yaml', path: '/srv/app/m.yaml', document, object });
const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const cm = (name: string, data: Record<string, string>, namespace = 'demo'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data,
});

test('apply creates, then reports unchanged, then configures on change', () => {
  const store = new ObjectStore();
  const t = applyTarget(store);
  assert.deepEqual(
    applyObjects(t, [src(ns('demo')), src(cm('c', { a: '1' }))]).map((r) => r.action),
    ['created', 'created'],
  );
  const rv = store.resourceVersion;
  assert.deepEqual(
    applyObjects(t, [src(ns('demo')), src(cm('c', { a: '1' }))]).map((r) => r.action),
    ['unchanged', 'unchanged'],
  );
  assert.equal(store.resourceVersion, rv, 'an unchanged apply writes nothing');
  assert.deepEqual(
    applyObjects(t, [src(cm('c', { a: '2' }))]).map((r) => r.action),
    ['configured'],
  );
});

test('a failing document rolls back the whole batch and names file:document', () => {
  const store = new ObjectStore();
  const t = applyTarget(store);
  const events: string[] = [];
  store.subscribe((e) => events.push(e.type));
  assert.throws(
    () => applyObjects(t, [src(ns('demo'), 1), src(cm('ok', {}), 2), src(cm('orphan', {}, 'missing-ns'), 3)]),
    /m\.yaml:3: namespaces "missing-ns" not found/,
  );
  const nsType = store.typeOf({ apiVersion: 'v1', kind: 'Namespace' });
  assert.equal(store.find(nsType, undefined, 'demo'), undefined, 'nothing half-created');
  assert.deepEqual(events, [], 'no watcher saw the rolled-back writes');
});

test('unknown kinds are stored (registered on first sight); pods record their manifest directory', () => {
  const store = new ObjectStore();
  const t = applyTarget(store);
  const widget: KubeObject = {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w', namespace: 'default' },
    spec: { size: 3 },
  };
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', command: ['true'] }] },
  };
  applyObjects(t, [src(widget), src(pod)]);
  const wt = store.types.byKind('example.com/v1', 'Widget');
  assert.equal(wt?.plural, 'widgets');
  assert.ok(store.find(wt as NonNullable<typeof wt>, 'default', 'w'));
  const p = store.find(store.typeOf(pod), 'default', 'p');
  assert.equal(p?.metadata.annotations?.['ambit.dev/workdir'], '/srv/app');
});

test('delete removes what the manifest names and reports what was absent', () => {
  const store = new ObjectStore();
  const t = applyTarget(store);
  applyObjects(t, [src(ns('demo')), src(cm('c', {}))]);
  const res = deleteObjects(t, [src(cm('c', {})), src(cm('never', {}))]);
  assert.deepEqual(res.map((r) => r.action).sort(), ['deleted', 'not found']);
});

test('objects of a CRD with a schema are applied strictly: unknown fields and bad values name file:document and field', () => {
  const store = new ObjectStore();
  installCrds(store, [
    {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'gadgets.example.com' },
      spec: {
        group: 'example.com',
        scope: 'Namespaced',
        names: { plural: 'gadgets', kind: 'Gadget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } } },
              },
            },
          },
        ],
      },
    },
  ]);
  const t = applyTarget(store);
  const gadget = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'example.com/v1',
    kind: 'Gadget',
    metadata: { name: 'g', namespace: 'default' },
    spec,
  });
  assert.throws(
    () => applyObjects(t, [src(gadget({ size: 1, colour: 'red' }), 2)]),
    /m\.yaml:2: Gadget in version "v1" cannot be handled as a Gadget: strict decoding error: unknown field "spec\.colour"/,
  );
  assert.throws(
    () => applyObjects(t, [src(gadget({ size: 0 }))]),
    /m\.yaml:1: Gadget\.example\.com "g" is invalid: spec\.size: Invalid value: 0: spec\.size in body should be greater than or equal to 1/,
  );
  assert.deepEqual(
    applyObjects(t, [src(gadget({ size: 2 }))]).map((r) => r.action),
    ['created'],
  );
  assert.deepEqual(
    applyObjects(t, [src(gadget({ size: 2 }))]).map((r) => r.action),
    ['unchanged'],
  );
});
