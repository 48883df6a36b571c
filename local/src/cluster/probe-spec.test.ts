import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldReader, asRecord } from '@ambit/core';
import { storeView } from '../runner/store-adapter.ts';
import { ObjectStore } from '../store/object-store.ts';
import { createAdmission } from './admission.ts';
import { readContainerProbes } from './probe-spec.ts';
import type { StoreView } from './store-view.ts';

function admittedStore(): StoreView {
  const bound: { view?: StoreView } = {};
  const store = new ObjectStore({
    admission: [{ admit: createAdmission(() => bound.view as StoreView, ['node1']) }],
    namespaces: ['default'],
  });
  bound.view = storeView(store);
  return bound.view;
}

const pod = (container: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default' },
  spec: { containers: [{ name: 'app', command: ['sleep', 'infinity'], ...container }] },
});

test('probes read with the API server defaults; a pod stores them defaulted', () => {
  const c = FieldReader.collecting();
  const probes = readContainerProbes(
    c,
    {
      readinessProbe: { httpGet: { port: 'http' } },
      livenessProbe: { tcpSocket: { port: '8080' }, periodSeconds: 0, initialDelaySeconds: 5 },
      startupProbe: { grpc: { port: 9090 }, failureThreshold: 30, terminationGracePeriodSeconds: 3 },
    },
    'spec.containers[0]',
  );
  assert.deepEqual(c.problems, []);
  assert.deepEqual(probes.readiness, {
    kind: 'readiness',
    handler: { type: 'httpGet', path: '/', port: 'http', scheme: 'HTTP', headers: [] },
    initialDelaySeconds: 0,
    periodSeconds: 10,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
  });
  assert.deepEqual(probes.liveness?.handler, { type: 'tcpSocket', port: 8080 });
  assert.equal(probes.liveness?.periodSeconds, 10, 'a zero period is defaulted');
  assert.equal(probes.liveness?.initialDelaySeconds, 5);
  assert.deepEqual(probes.startup?.handler, { type: 'grpc', port: 9090, service: '' });
  assert.equal(probes.startup?.terminationGracePeriodSeconds, 3);

  const view = admittedStore();
  const created = view.create(pod({ readinessProbe: { httpGet: { port: 8080 } }, livenessProbe: { exec: { command: ['true'] } } }));
  const ctr = asRecord((asRecord(created['spec'])['containers'] as unknown[])[0]);
  assert.deepEqual(ctr['readinessProbe'], {
    httpGet: { port: 8080, path: '/', scheme: 'HTTP' },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  });
  assert.deepEqual(ctr['livenessProbe'], {
    exec: { command: ['true'] },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  });
});

test('a probe Kubernetes refuses is refused at admission, naming the field', () => {
  const view = admittedStore();
  const refused = (container: Record<string, unknown>, message: RegExp): void => {
    assert.throws(
      () => view.create(pod(container)),
      (err: unknown) => message.test(String(err)),
    );
  };
  refused({ readinessProbe: { periodSeconds: 5 } }, /spec\.containers\[0\]\.readinessProbe: must specify a handler type/);
  refused(
    { readinessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 } } },
    /spec\.containers\[0\]\.readinessProbe\.tcpSocket: may not specify more than 1 handler type/,
  );
  refused({ livenessProbe: { exec: { command: ['true'] }, successThreshold: 2 } }, /livenessProbe\.successThreshold: must be 1, got 2/);
  refused({ startupProbe: { exec: { command: ['true'] }, successThreshold: 3 } }, /startupProbe\.successThreshold: must be 1, got 3/);
  refused({ readinessProbe: { httpGet: { port: 'Not_A_Port' } } }, /readinessProbe\.httpGet\.port: "Not_A_Port" must be a port number/);
  refused({ readinessProbe: { httpGet: { port: 70000 } } }, /readinessProbe\.httpGet\.port: must be an integer port from 1 to 65535/);
  refused({ readinessProbe: { grpc: { port: 'grpc' } } }, /readinessProbe\.grpc\.port: must be an integer port/);
  refused({ readinessProbe: { exec: { command: [] } } }, /readinessProbe\.exec\.command: required/);
  refused({ readinessProbe: { tcpSocket: { port: 80 }, timeoutSeconds: -1 } }, /readinessProbe\.timeoutSeconds: must be an integer from 0/);
  refused(
    { readinessProbe: { tcpSocket: { port: 80 }, terminationGracePeriodSeconds: 5 } },
    /readinessProbe\.terminationGracePeriodSeconds: must not be set for readinessProbes/,
  );
});
