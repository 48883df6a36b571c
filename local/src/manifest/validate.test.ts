import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateObject } from './validate.ts';

const pod = (spec: unknown, metadata: Record<string, unknown> = { name: 'p' }) => ({ apiVersion: 'v1', kind: 'Pod', metadata, spec });
const ctr = (extra: Record<string, unknown> = {}) => ({ name: 'c', command: ['sleep', '1'], ...extra });
const deploy = (spec: Record<string, unknown>) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec });
const tmpl = { metadata: { labels: { app: 'a' } }, spec: { containers: [ctr()] } };
const svc = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec });

// [case, object, expected field of the first error or undefined when valid]
const cases: Array<[string, unknown, string | undefined]> = [
  ['valid pod', pod({ containers: [ctr()] }), undefined],
  ['not an object', 'hello', ''],
  ['missing apiVersion', { kind: 'Pod', metadata: { name: 'x' } }, 'apiVersion'],
  ['missing kind', { apiVersion: 'v1', metadata: { name: 'x' } }, 'kind'],
  ['missing metadata', { apiVersion: 'v1', kind: 'Pod' }, 'metadata'],
  ['missing name', pod({ containers: [ctr()] }, {}), 'metadata.name'],
  ['upper-case name', pod({ containers: [ctr()] }, { name: 'Web' }), 'metadata.name'],
  [
    'RBAC name with a colon',
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:discovery' } },
    undefined,
  ],
  ['RBAC name with a slash', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'a/b' } }, 'metadata.name'],
  ['numeric label value', pod({ containers: [ctr()] }, { name: 'p', labels: { version: 1 } }), 'metadata.labels[version]'],
  ['annotations a list', pod({ containers: [ctr()] }, { name: 'p', annotations: ['x'] }), 'metadata.annotations'],
  ['bad namespace', pod({ containers: [ctr()] }, { name: 'p', namespace: 'Demo_1' }), 'metadata.namespace'],
  ['pod without spec', pod(undefined), 'spec'],
  ['no containers', pod({ containers: [] }), 'spec.containers'],
  ['container without command', pod({ containers: [{ name: 'c' }] }), 'spec.containers[0].command'],
  ['command not strings', pod({ containers: [ctr({ command: ['node', 3] })] }), 'spec.containers[0].command[1]'],
  ['duplicate container', pod({ containers: [ctr(), ctr()] }), 'spec.containers[1].name'],
  ['env without name', pod({ containers: [ctr({ env: [{ value: 'x' }] })] }), 'spec.containers[0].env[0].name'],
  [
    'env bad fieldRef',
    pod({ containers: [ctr({ env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.nope' } } }] })] }),
    'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath',
  ],
  [
    'container port too big',
    pod({ containers: [ctr({ ports: [{ containerPort: 70000 }] })] }),
    'spec.containers[0].ports[0].containerPort',
  ],
  ['bad restartPolicy', pod({ containers: [ctr()], restartPolicy: 'Sometimes' }), 'spec.restartPolicy'],
  ['valid deployment', deploy({ replicas: 2, selector: { matchLabels: { app: 'a' } }, template: tmpl }), undefined],
  ['negative replicas', deploy({ replicas: -1, selector: { matchLabels: { app: 'a' } }, template: tmpl }), 'spec.replicas'],
  ['selector mismatch', deploy({ selector: { matchLabels: { app: 'b' } }, template: tmpl }), 'spec.template.metadata.labels'],
  [
    'deployment Never restart',
    deploy({ selector: { matchLabels: { app: 'a' } }, template: { ...tmpl, spec: { containers: [ctr()], restartPolicy: 'Never' } } }),
    'spec.template.spec.restartPolicy',
  ],
  [
    'deployment container error path',
    deploy({ selector: { matchLabels: { app: 'a' } }, template: { ...tmpl, spec: { containers: [{ name: 'c', command: 'node' }] } } }),
    'spec.template.spec.containers[0].command',
  ],
  ['valid service', svc({ selector: { app: 'a' }, ports: [{ port: 80, targetPort: 'http' }] }), undefined],
  ['service port 0', svc({ ports: [{ port: 0 }] }), 'spec.ports[0].port'],
  ['service two unnamed ports', svc({ ports: [{ name: 'a', port: 80 }, { port: 81 }] }), 'spec.ports[1].name'],
  ['service bad targetPort', svc({ ports: [{ port: 80, targetPort: 'Not_A_Name' }] }), 'spec.ports[0].targetPort'],
  ['service clusterIP outside range', svc({ clusterIP: '192.168.1.1', ports: [{ port: 80 }] }), 'spec.clusterIP'],
  ['headless service', svc({ clusterIP: 'None', ports: [{ port: 80 }] }), undefined],
  ['unknown kind is kept as is', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: 42 }, undefined],
];

for (const [name, obj, field] of cases) {
  test(`validate: ${name}`, () => {
    const errors = validateObject(obj);
    if (field === undefined) assert.deepEqual(errors, []);
    else {
      assert.ok(errors.length > 0, 'expected an error');
      assert.equal(errors[0]?.field, field, JSON.stringify(errors));
    }
  });
}
