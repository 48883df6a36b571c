import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../kube/types.ts';
import { forbidden } from './authenticate.ts';
import { authorize, policyOf, rulesFor, type Attributes } from './rbac.ts';
import { parseRequestInfo } from './request-info.ts';
import type { UserInfo } from './tokens.ts';

const RBAC = 'rbac.authorization.k8s.io/v1';

function sa(ns: string, name: string): UserInfo {
  return {
    username: `system:serviceaccount:${ns}:${name}`,
    uid: 'u',
    groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
  };
}

function role(kind: 'Role' | 'ClusterRole', name: string, rules: unknown[], namespace?: string): KubeObject {
  return { apiVersion: RBAC, kind, metadata: { name, ...(namespace !== undefined && { namespace }) }, rules };
}

function binding(
  kind: 'RoleBinding' | 'ClusterRoleBinding',
  name: string,
  roleRef: { kind: string; name: string },
  subjects: unknown[],
  namespace?: string,
): KubeObject {
  return {
    apiVersion: RBAC,
    kind,
    metadata: { name, ...(namespace !== undefined && { namespace }) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
    subjects,
  };
}

/** What a request is, parsed as the server parses it, asked by `user`. */
function req(user: UserInfo, method: string, path: string): Attributes {
  return { ...parseRequestInfo(method, new URL(path, 'https://127.0.0.1')), user };
}

const policy = policyOf([
  role('Role', 'pod-reader', [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] }], 'team'),
  binding('RoleBinding', 'read-pods', { kind: 'Role', name: 'pod-reader' }, [{ kind: 'ServiceAccount', name: 'reader' }], 'team'),
  role('ClusterRole', 'scaler', [
    { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['update', 'patch'] },
    { apiGroups: ['apps'], resources: ['*/status'], verbs: ['get'] },
  ]),
  binding(
    'RoleBinding',
    'scale-in-team',
    { kind: 'ClusterRole', name: 'scaler' },
    [{ kind: 'ServiceAccount', name: 'ops', namespace: 'ops' }],
    'team',
  ),
  role('ClusterRole', 'lease-holder', [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'], resourceNames: ['leader'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  ]),
  binding('ClusterRoleBinding', 'leases', { kind: 'ClusterRole', name: 'lease-holder' }, [
    { kind: 'Group', name: 'system:serviceaccounts:ctl' },
  ]),
  role('ClusterRole', 'metrics', [{ nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }]),
  binding('ClusterRoleBinding', 'metrics', { kind: 'ClusterRole', name: 'metrics' }, [{ kind: 'User', name: 'prometheus' }]),
  role('ClusterRole', 'everything-core', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]),
  binding('ClusterRoleBinding', 'dangling', { kind: 'ClusterRole', name: 'gone' }, [{ kind: 'User', name: 'prometheus' }]),
]);

const allowed = (a: Attributes): boolean => authorize(policy, a).allowed;

describe('request info (kube-apiserver RequestInfo)', () => {
  it('derives the verb from the method, the name and ?watch', () => {
    const p = (m: string, path: string): string => {
      const i = parseRequestInfo(m, new URL(path, 'https://x'));
      return [i.verb, i.apiGroup, i.namespace, i.resource, i.subresource, i.name].join('|');
    };
    assert.equal(p('GET', '/api/v1/namespaces/ns/pods'), 'list||ns|pods||');
    assert.equal(p('GET', '/api/v1/namespaces/ns/pods?watch=true'), 'watch||ns|pods||');
    assert.equal(p('GET', '/api/v1/namespaces/ns/pods?watch=0'), 'list||ns|pods||');
    assert.equal(p('GET', '/api/v1/watch/namespaces/ns/pods'), 'watch||ns|pods||');
    assert.equal(p('GET', '/api/v1/pods'), 'list|||pods||');
    assert.equal(p('GET', '/api/v1/namespaces/ns/pods/x/log'), 'get||ns|pods|log|x');
    assert.equal(p('GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dx'), 'list||ns|pods||x');
    assert.equal(p('PUT', '/apis/apps/v1/namespaces/ns/deployments/d/scale'), 'update|apps|ns|deployments|scale|d');
    assert.equal(p('PATCH', '/apis/apps/v1/namespaces/ns/deployments/d'), 'patch|apps|ns|deployments||d');
    assert.equal(p('POST', '/api/v1/namespaces/ns/serviceaccounts/sa/token'), 'create||ns|serviceaccounts|token|sa');
    assert.equal(p('DELETE', '/api/v1/namespaces/ns/pods'), 'deletecollection||ns|pods||');
    assert.equal(p('DELETE', '/api/v1/namespaces/ns'), 'delete||ns|namespaces||ns');
    assert.equal(p('PUT', '/api/v1/namespaces/ns/finalize'), 'update||ns|namespaces|finalize|ns');
    assert.equal(p('GET', '/api/v1/nodes/n1'), 'get|||nodes||n1');
    const nonResource = parseRequestInfo('GET', new URL('https://x/apis/apps'));
    assert.deepEqual([nonResource.isResourceRequest, nonResource.verb, nonResource.path], [false, 'get', '/apis/apps']);
  });
});

describe('RBAC authorizer', () => {
  it('grants a Role only in its RoleBinding’s namespace, to the bound ServiceAccount', () => {
    const reader = sa('team', 'reader');
    assert.ok(allowed(req(reader, 'GET', '/api/v1/namespaces/team/pods')));
    assert.ok(allowed(req(reader, 'GET', '/api/v1/namespaces/team/pods?watch=1')));
    assert.ok(allowed(req(reader, 'GET', '/api/v1/namespaces/team/pods/x/log')));
    assert.ok(!allowed(req(reader, 'GET', '/api/v1/namespaces/default/pods')));
    assert.ok(!allowed(req(reader, 'GET', '/api/v1/pods')), 'all-namespace list needs a cluster-wide grant');
    assert.ok(!allowed(req(reader, 'DELETE', '/api/v1/namespaces/team/pods/x')));
    assert.ok(!allowed(req(reader, 'GET', '/api/v1/namespaces/team/services')));
    assert.ok(!allowed(req(sa('other', 'reader'), 'GET', '/api/v1/namespaces/team/pods')), 'a subject without namespace is the binding’s');
  });

  it('matches subresources exactly, or through a */sub rule', () => {
    const ops = sa('ops', 'ops');
    assert.ok(allowed(req(ops, 'PATCH', '/apis/apps/v1/namespaces/team/deployments/d/scale')));
    assert.ok(!allowed(req(ops, 'PATCH', '/apis/apps/v1/namespaces/team/deployments/d')), 'scale is not the deployment');
    assert.ok(allowed(req(ops, 'GET', '/apis/apps/v1/namespaces/team/replicasets/r/status')));
    assert.ok(!allowed(req(ops, 'GET', '/apis/apps/v1/namespaces/team/replicasets/r')));
    assert.ok(!allowed(req(ops, 'PATCH', '/apis/apps/v1/namespaces/ops/deployments/d/scale')), 'RoleBinding is in team');
  });

  it('applies resourceNames to named requests only, as upstream', () => {
    const ctl = sa('ctl', 'controller');
    assert.ok(allowed(req(ctl, 'GET', '/apis/coordination.k8s.io/v1/namespaces/x/leases/leader')));
    assert.ok(allowed(req(ctl, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/x/leases/leader')));
    assert.ok(!allowed(req(ctl, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/x/leases/other')));
    assert.ok(!allowed(req(ctl, 'GET', '/apis/coordination.k8s.io/v1/namespaces/x/leases')), 'a list names nothing');
    const byName = req(ctl, 'GET', '/apis/coordination.k8s.io/v1/namespaces/x/leases?fieldSelector=metadata.name=leader');
    assert.deepEqual([byName.verb, byName.name], ['list', 'leader']);
    assert.ok(!allowed(byName), 'a list by name is still a list, not a get');
    assert.ok(allowed(req(ctl, 'POST', '/apis/coordination.k8s.io/v1/namespaces/x/leases')), 'create is granted without names');
  });

  it('matches nonResourceURLs exactly or by a trailing *', () => {
    const prom: UserInfo = { username: 'prometheus', uid: '', groups: ['system:authenticated'] };
    assert.ok(allowed(req(prom, 'GET', '/metrics')));
    assert.ok(allowed(req(prom, 'GET', '/debug/pprof/heap')));
    assert.ok(!allowed(req(prom, 'GET', '/metrics/extra')));
    assert.ok(!allowed(req(prom, 'POST', '/metrics')));
    assert.ok(!allowed(req(prom, 'GET', '/api/v1/namespaces/x/pods')));
  });

  it('says which binding allowed, and which references are broken on a denial', () => {
    assert.deepEqual(authorize(policy, req(sa('team', 'reader'), 'GET', '/api/v1/namespaces/team/pods')), {
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "read-pods/team" of Role "pod-reader" to ServiceAccount "reader/team"',
    });
    const prom: UserInfo = { username: 'prometheus', uid: '', groups: [] };
    assert.deepEqual(authorize(policy, req(prom, 'GET', '/nope')), {
      allowed: false,
      reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
    });
  });

  it('lets system:masters do anything, with no rules at all', () => {
    const admin: UserInfo = { username: 'system:admin', uid: '', groups: ['system:masters', 'system:authenticated'] };
    assert.ok(authorize(policyOf([]), req(admin, 'DELETE', '/api/v1/namespaces/kube-system')).allowed);
  });

  it('lists the rules that apply in a namespace', () => {
    const { rules, errors } = rulesFor(policy, sa('ops', 'ops'), 'team');
    assert.deepEqual(errors, []);
    assert.deepEqual(
      rules.map((r) => r.resources),
      [['deployments/scale'], ['*/status']],
    );
  });
});

describe('403 messages (kube-apiserver wording)', () => {
  const reader = sa('team', 'reader');
  it('names the object, the verb, the resource, the group and the scope', () => {
    assert.equal(
      forbidden(req(reader, 'GET', '/api/v1/namespaces/ns/pods/x'), '').message,
      'pods "x" is forbidden: User "system:serviceaccount:team:reader" cannot get resource "pods" in API group "" in the namespace "ns"',
    );
    assert.equal(
      forbidden(req(reader, 'GET', '/api/v1/namespaces/ns/pods'), '').message,
      'pods is forbidden: User "system:serviceaccount:team:reader" cannot list resource "pods" in API group "" in the namespace "ns"',
    );
    assert.equal(
      forbidden(req(reader, 'GET', '/api/v1/nodes'), '').message,
      'nodes is forbidden: User "system:serviceaccount:team:reader" cannot list resource "nodes" in API group "" at the cluster scope',
    );
    assert.equal(
      forbidden(req(reader, 'PUT', '/apis/apps/v1/namespaces/ns/deployments/d/scale'), '').message,
      'deployments.apps "d" is forbidden: User "system:serviceaccount:team:reader" cannot update resource "deployments/scale" in API group "apps" in the namespace "ns"',
    );
    assert.equal(
      forbidden(req(reader, 'GET', '/metrics'), 'RBAC: x').message,
      'forbidden: User "system:serviceaccount:team:reader" cannot get path "/metrics": RBAC: x',
    );
    const status = forbidden(req(reader, 'GET', '/apis/apps/v1/namespaces/ns/deployments/d'), '').toStatus();
    assert.deepEqual(
      [status['code'], status['reason'], status['details']],
      [403, 'Forbidden', { name: 'd', group: 'apps', kind: 'deployments' }],
    );
  });
});
