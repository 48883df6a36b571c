import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyStrategicMergePatch } from './strategic-merge-patch.ts';

const pod = {
  metadata: { name: 'p', finalizers: ['a'], labels: { x: '1' } },
  spec: {
    containers: [
      { name: 'app', image: 'v1', env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 80 }] },
      { name: 'side', image: 's1' },
    ],
    tolerations: [{ key: 'old' }],
  },
};

test('what kubectl apply sends for a changed image: containers merge by name, $setElementOrder orders them', () => {
  const out = applyStrategicMergePatch(pod, {
    spec: { containers: [{ name: 'side', image: 's2' }], '$setElementOrder/containers': [{ name: 'side' }, { name: 'app' }] },
  }) as typeof pod;
  assert.deepEqual(
    out.spec.containers.map((c) => [c.name, c.image]),
    [
      ['side', 's2'],
      ['app', 'v1'],
    ],
  );
  assert.deepEqual(out.spec.containers[1]?.env, [{ name: 'A', value: '1' }], 'untouched fields of a merged element stay');
});

test('$patch delete of a list element, replace of a map, null removes, lists without a merge key are replaced', () => {
  const out = applyStrategicMergePatch(pod, {
    metadata: { labels: { $patch: 'replace', y: '2' }, finalizers: ['b'] },
    spec: {
      containers: [
        { name: 'side', $patch: 'delete' },
        { name: 'new', image: 'n' },
      ],
      tolerations: [{ key: 'new' }],
    },
  }) as Record<string, Record<string, unknown>>;
  assert.deepEqual(out['metadata']?.['labels'], { y: '2' });
  assert.deepEqual(out['metadata']?.['finalizers'], ['a', 'b'], 'finalizers merge as a set');
  assert.deepEqual(
    (out['spec']?.['containers'] as Array<{ name: string }>).map((c) => c.name),
    ['app', 'new'],
  );
  assert.deepEqual(out['spec']?.['tolerations'], [{ key: 'new' }]);
  const removed = applyStrategicMergePatch(pod, { metadata: { labels: null, '$deleteFromPrimitiveList/finalizers': ['a'] } }) as typeof pod;
  assert.equal(removed.metadata.labels, undefined);
  assert.deepEqual(removed.metadata.finalizers, []);
  assert.deepEqual(pod.spec.containers.length, 2, 'the target is not modified');
});

test('Service ports merge by port, container ports by containerPort', () => {
  const svc = {
    spec: {
      ports: [
        { port: 80, name: 'http' },
        { port: 443, name: 'https' },
      ],
    },
  };
  const out = applyStrategicMergePatch(svc, { spec: { ports: [{ port: 443, targetPort: 8443 }] } }) as typeof svc;
  assert.deepEqual(out.spec.ports, [
    { port: 80, name: 'http' },
    { port: 443, name: 'https', targetPort: 8443 },
  ]);
});
