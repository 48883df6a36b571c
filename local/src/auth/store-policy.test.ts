import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { ObjectStore } from '../store/object-store.ts';
import { bootstrapPolicy, ensureBootstrapPolicy } from './bootstrap-policy.ts';
import { authorize, type Attributes } from './rbac.ts';
import { parseRequestInfo } from './request-info.ts';
import { createStorePolicy, startClusterRoleAggregation } from './store-policy.ts';
import type { UserInfo } from './tokens.ts';

const RBAC = 'rbac.authorization.k8s.io/v1';
const user: UserInfo = { username: 'alice', uid: '', groups: ['system:authenticated'] };

function req(method: string, path: string): Attributes {
  return { ...parseRequestInfo(method, new URL(path, 'https://x')), user };
}

describe('RBAC over the object store', () => {
  it('sees a changed binding on the very next request', () => {
    const store = new ObjectStore();
    ensureBootstrapPolicy(store);
    const { policy, close } = createStorePolicy(store);
    try {
      // Discovery and self reviews come from the bootstrap policy; pods do not.
      assert.ok(authorize(policy, req('GET', '/apis')).allowed);
      assert.ok(authorize(policy, req('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).allowed);
      assert.ok(!authorize(policy, req('GET', '/api/v1/pods')).allowed);
      store.create({
        apiVersion: RBAC,
        kind: 'ClusterRoleBinding',
        metadata: { name: 'alice-admin' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'User', name: 'alice' }],
      });
      assert.ok(authorize(policy, req('GET', '/api/v1/pods')).allowed);
      store.delete(store.typeOf({ apiVersion: RBAC, kind: 'ClusterRoleBinding' }), undefined, 'alice-admin');
      assert.ok(!authorize(policy, req('GET', '/api/v1/pods')).allowed);
      ensureBootstrapPolicy(store);
      assert.equal(
        store.list(store.typeOf({ apiVersion: RBAC, kind: 'ClusterRole' })).items.length,
        bootstrapPolicy().filter((o) => o.kind === 'ClusterRole').length,
      );
    } finally {
      close();
    }
  });

  it('aggregates the rules of the ClusterRoles an aggregationRule selects, and follows their changes', async () => {
    const store = new ObjectStore();
    const roles = store.typeOf({ apiVersion: RBAC, kind: 'ClusterRole' });
    store.create({
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name: 'monitoring' },
      aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'example.com/aggregate-to-monitoring': 'true' } }] },
    });
    const podsRule = { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] };
    store.create({
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name: 'a-pods', labels: { 'example.com/aggregate-to-monitoring': 'true' } },
      rules: [podsRule],
    });
    const aggregation = startClusterRoleAggregation(store, silentLogger());
    try {
      await eventually(() => assert.deepEqual(store.get(roles, undefined, 'monitoring')['rules'], [podsRule]));
      const svcRule = { apiGroups: [''], resources: ['services'], verbs: ['get'] };
      store.create({
        apiVersion: RBAC,
        kind: 'ClusterRole',
        metadata: { name: 'b-services', labels: { 'example.com/aggregate-to-monitoring': 'true' } },
        rules: [svcRule, podsRule],
      });
      store.create({
        apiVersion: RBAC,
        kind: 'ClusterRole',
        metadata: { name: 'unlabelled' },
        rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }],
      });
      await eventually(() => assert.deepEqual(store.get(roles, undefined, 'monitoring')['rules'], [podsRule, svcRule]));
      store.delete(roles, undefined, 'a-pods');
      await eventually(() => assert.deepEqual(store.get(roles, undefined, 'monitoring')['rules'], [svcRule, podsRule]));
    } finally {
      await aggregation.stop();
    }
  });
});
