import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { storeView } from '../runner/store-adapter.ts';
import { ObjectStore } from '../store/object-store.ts';
import { admitServiceAccount, SERVICE_ACCOUNT_MOUNT_PATH } from './serviceaccount-admission.ts';

/** The ServiceAccount admission plugin's choices, as kube-apiserver makes them. */

const view = storeView(new ObjectStore({ namespaces: ['default'] }));
view.create({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name: 'off', namespace: 'default' },
  automountServiceAccountToken: false,
});

function admitted(spec: Record<string, unknown>): Record<string, unknown> {
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec };
  admitServiceAccount(view, pod);
  return asRecord(pod['spec']);
}

const mountsOf = (spec: Record<string, unknown>, field = 'containers'): unknown =>
  (spec[field] as Array<Record<string, unknown>>).map((c) => c['volumeMounts']);

test('every container and init container gets the volume; one volume for all', () => {
  const spec = admitted({
    initContainers: [{ name: 'i' }],
    containers: [{ name: 'a' }, { name: 'b', volumeMounts: [{ name: 'x', mountPath: '/x' }] }],
  });
  const volumes = spec['volumes'] as Array<Record<string, unknown>>;
  assert.equal(volumes.length, 1);
  const name = volumes[0]?.['name'];
  const mount = { name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH };
  assert.deepEqual(mountsOf(spec, 'initContainers'), [[mount]]);
  assert.deepEqual(mountsOf(spec), [[mount], [{ name: 'x', mountPath: '/x' }, mount]]);
});

test('the pod’s automountServiceAccountToken wins over the ServiceAccount’s; an own mount at the path is kept', () => {
  assert.equal(admitted({ serviceAccountName: 'off', containers: [{ name: 'a' }] })['volumes'], undefined);
  assert.equal(
    (admitted({ serviceAccountName: 'off', automountServiceAccountToken: true, containers: [{ name: 'a' }] })['volumes'] as unknown[])
      .length,
    1,
  );
  assert.equal(admitted({ automountServiceAccountToken: false, containers: [{ name: 'a' }] })['volumes'], undefined);
  const own = admitted({ containers: [{ name: 'a', volumeMounts: [{ name: 'mine', mountPath: SERVICE_ACCOUNT_MOUNT_PATH }] }] });
  assert.equal(own['volumes'], undefined, 'no container needs it');
  assert.deepEqual(mountsOf(own), [[{ name: 'mine', mountPath: SERVICE_ACCOUNT_MOUNT_PATH }]]);
});
