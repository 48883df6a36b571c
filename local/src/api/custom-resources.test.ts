import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { KUBECTL_SKIP, startKubectlFixture, type KubectlFixture, type KubectlResult } from '../../testing/kubectl.ts';
import { crdDir, installCrds, readCrds } from '../runner/crds.ts';
import { ObjectStore } from '../store/object-store.ts';
import { createApiServer, type ApiServer } from './server.ts';

/**
 * Ambit's kinds through the API as clients use it: served from deploy/crds, pruned and validated against the CRDs'
 * schemas with kube-apiserver's answers (422 naming the field, 400 for unknown fields under Strict, Warning headers
 * under Warn), a status subresource, printer columns, and kubectl (v1.32) on top: apply without --validate=false,
 * the errors it prints, `get lrl`, `get crd`, `explain`.
 */

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TOKEN = 'crd-test-token';
const store = new ObjectStore();
installCrds(store, readCrds(crdDir(REPO)));
let plain: ApiServer;
/** kubectl against a TLS API server over the same store (client-go sends tokens only over TLS). */
let fx: KubectlFixture;

const LRL_PATH = '/apis/ambit.dev/v1alpha1/namespaces/default/localratelimits';
const HF_PATH = '/apis/ambit.dev/v1alpha1/namespaces/default/httpfaults';

interface Res {
  readonly status: number;
  readonly warnings: string[];
  readonly body: Record<string, unknown>;
}

async function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Res> {
  const headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['Content-Type'] = contentType;
  const res = await fetch(plain.url + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const warning = res.headers.get('warning');
  return {
    status: res.status,
    warnings: warning === null ? [] : warning.split(/,\s*(?=299 )/),
    body: (await res.json()) as Record<string, unknown>,
  };
}

function lrl(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'ambit.dev/v1alpha1',
    kind: 'LocalRateLimit',
    metadata: { name },
    spec: { targetRef: { group: '', kind: 'Service', name: 'reviews' }, ...spec },
  };
}

function causesOf(r: Res): string[] {
  const details = r.body['details'] as { causes?: Array<{ field: string; message: string; reason: string }> } | undefined;
  return (details?.causes ?? []).map((c) => `${c.reason} ${c.field}: ${c.message}`);
}

const kubectl = (...args: string[]): Promise<KubectlResult> => fx.kubectl(...args);

before(async () => {
  plain = await createApiServer({ store, listen: { host: '127.0.0.1', port: 0 }, token: TOKEN, log: silentLogger(), tls: false });
  fx = await startKubectlFixture(store);
});

after(async () => {
  await plain.close();
  await fx.close();
});

void describe('ambit.dev kinds over HTTP', () => {
  void it('creates a valid LocalRateLimit and HTTPFault', async () => {
    const created = await call('POST', LRL_PATH, lrl('ok', { total: { requestsPerSecond: 10, burst: 1 } }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.warnings, []);
    assert.deepEqual((created.body['spec'] as Record<string, unknown>)['total'], { requestsPerSecond: 10, burst: 1 });
    const fault = await call('POST', HF_PATH, {
      apiVersion: 'ambit.dev/v1alpha1',
      kind: 'HTTPFault',
      metadata: { name: 'ok' },
      spec: { delay: { fixedDelay: '200ms' }, abort: { percentage: { value: 10 }, grpcStatus: 'UNAVAILABLE' } },
    });
    assert.equal(fault.status, 201, JSON.stringify(fault.body));
  });

  void it('refuses an invalid one with 422 Invalid naming each field', async () => {
    const r = await call('POST', LRL_PATH, lrl('bad', { total: { requestsPerSecond: 0 }, identity: { requestsPerSecond: 'x' } }));
    assert.equal(r.status, 422);
    assert.equal(r.body['reason'], 'Invalid');
    assert.deepEqual(causesOf(r), [
      'FieldValueInvalid spec.total.requestsPerSecond: Invalid value: 0: spec.total.requestsPerSecond in body should be greater than or equal to 1',
      'FieldValueTypeInvalid spec.identity.requestsPerSecond: Invalid value: "string": spec.identity.requestsPerSecond in body must be of type integer: "string"',
    ]);
    assert.match(
      String(r.body['message']),
      /^LocalRateLimit\.ambit\.dev "bad" is invalid: \[spec\.total\.requestsPerSecond: Invalid value: 0/,
    );
    assert.deepEqual(
      { ...(r.body['details'] as Record<string, unknown>), causes: undefined },
      {
        name: 'bad',
        group: 'ambit.dev',
        kind: 'LocalRateLimit',
        causes: undefined,
      },
    );
  });

  void it('checks updates and patches too', async () => {
    const cur = await call('GET', `${LRL_PATH}/ok`);
    const put = await call('PUT', `${LRL_PATH}/ok`, { ...cur.body, spec: { targetRef: { kind: 'Pod', name: 'x' } } });
    assert.equal(put.status, 422);
    assert.deepEqual(causesOf(put), ['FieldValueNotSupported spec.targetRef.kind: Unsupported value: "Pod": supported values: "Service"']);
    const patch = await call('PATCH', `${LRL_PATH}/ok`, { spec: { targetRef: { name: null } } }, 'application/merge-patch+json');
    assert.equal(patch.status, 422);
    assert.deepEqual(causesOf(patch), ['FieldValueRequired spec.targetRef.name: Required value']);
    const good = await call('PATCH', `${LRL_PATH}/ok`, { spec: { total: { burst: 3 } } }, 'application/merge-patch+json');
    assert.equal(good.status, 200);
    assert.equal(((good.body['spec'] as Record<string, unknown>)['total'] as Record<string, unknown>)['burst'], 3);
  });

  void it('prunes unknown fields: warns by default, refuses under Strict, is silent under Ignore', async () => {
    const typo = (name: string): KubeObject => lrl(name, { total: { requestsPerSecond: 5, brust: 2 }, extra: true });
    const warned = await call('POST', LRL_PATH, typo('warned'));
    assert.equal(warned.status, 201);
    assert.deepEqual(warned.warnings, ['299 - "unknown field \\"spec.total.brust\\""', '299 - "unknown field \\"spec.extra\\""']);
    assert.deepEqual(warned.body['spec'], lrl('', { total: { requestsPerSecond: 5 } })['spec']);
    const strict = await call('POST', `${LRL_PATH}?fieldValidation=Strict`, typo('strict'));
    assert.equal(strict.status, 400);
    assert.equal(strict.body['reason'], 'BadRequest');
    assert.equal(
      strict.body['message'],
      'LocalRateLimit in version "v1alpha1" cannot be handled as a LocalRateLimit: strict decoding error: unknown field "spec.total.brust", unknown field "spec.extra"',
    );
    const ignored = await call('POST', `${LRL_PATH}?fieldValidation=Ignore`, typo('ignored'));
    assert.equal(ignored.status, 201);
    assert.deepEqual(ignored.warnings, []);
    assert.equal((await call('POST', `${LRL_PATH}?fieldValidation=Loud`, typo('loud'))).status, 400);
  });

  void it('serves status as a subresource, validated against the schema', async () => {
    const condition = {
      type: 'Accepted',
      status: 'True',
      reason: 'Accepted',
      message: 'applied by waypoint default/waypoint',
      lastTransitionTime: '2026-12-07T09:00:00Z',
      observedGeneration: 1,
    };
    const st = await call('PATCH', `${LRL_PATH}/ok/status`, { status: { conditions: [condition] } }, 'application/merge-patch+json');
    assert.equal(st.status, 200, JSON.stringify(st.body));
    assert.deepEqual(st.body['status'], { conditions: [condition] });
    const bad = await call(
      'PATCH',
      `${LRL_PATH}/ok/status`,
      { status: { conditions: [{ ...condition, status: 'Yes' }] } },
      'application/merge-patch+json',
    );
    assert.equal(bad.status, 422);
    assert.deepEqual(causesOf(bad), [
      'FieldValueNotSupported status.conditions[0].status: Unsupported value: "Yes": supported values: "True", "False", "Unknown"',
    ]);
    // The main endpoint keeps the stored status; /status changed nothing else.
    const cur = await call('GET', `${LRL_PATH}/ok`);
    const put = await call('PUT', `${LRL_PATH}/ok`, { ...cur.body, status: { conditions: [] } });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body['status'], { conditions: [condition] });
    assert.deepEqual(put.body['spec'], cur.body['spec']);
  });

  void it('serves OpenAPI v3 for the CRD group next to the built-in ones', async () => {
    const root = await call('GET', '/openapi/v3');
    assert.ok(Object.keys(root.body['paths'] as object).includes('apis/ambit.dev/v1alpha1'));
    assert.ok(Object.keys(root.body['paths'] as object).includes('api/v1'));
    const doc = await call('GET', '/apis/ambit.dev/v1alpha1'.replace('/apis', '/openapi/v3/apis'));
    const schemas = (doc.body['components'] as { schemas: Record<string, Record<string, unknown>> }).schemas;
    assert.deepEqual(schemas['dev.ambit.v1alpha1.LocalRateLimit']?.['x-kubernetes-group-version-kind'], [
      { group: 'ambit.dev', version: 'v1alpha1', kind: 'LocalRateLimit' },
    ]);
    assert.equal((await call('GET', '/openapi/v2')).body['swagger'], '2.0');
  });
});

void describe('ambit.dev kinds with kubectl', { skip: KUBECTL_SKIP }, () => {
  const file = (name: string, text: string): string => {
    const path = join(fx.dir, name);
    writeFileSync(path, text);
    return path;
  };

  void it('apply creates the examples, with server-side field validation (no --validate=false)', async () => {
    for (const f of ['local-rate-limit.yaml', 'http-fault.yaml']) {
      const r = await kubectl('apply', '-f', join(REPO, 'examples', 'ambit-kinds', f));
      assert.equal(r.code, 0, r.stderr);
    }
    const again = await kubectl('apply', '-f', join(REPO, 'examples', 'ambit-kinds', 'local-rate-limit.yaml'));
    assert.match(again.stdout, /^localratelimit\.ambit\.dev\/reviews unchanged$/m);
  });

  void it('apply of a bad object prints what a real cluster prints', async () => {
    const bad = file(
      'bad.yaml',
      'apiVersion: ambit.dev/v1alpha1\nkind: LocalRateLimit\nmetadata: {name: bad}\nspec:\n  targetRef: {kind: Service, name: reviews}\n  total: {requestsPerSecond: 0}\n',
    );
    const r = await kubectl('apply', '-f', bad);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      'The LocalRateLimit "bad" is invalid: spec.total.requestsPerSecond: Invalid value: 0: spec.total.requestsPerSecond in body should be greater than or equal to 1',
    );
    const typo = file(
      'typo.yaml',
      'apiVersion: ambit.dev/v1alpha1\nkind: HTTPFault\nmetadata: {name: typo}\nspec:\n  delay: {fixedDelay: 1s, percent: 5}\n',
    );
    const strict = await kubectl('apply', '-f', typo);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /cannot be handled as a HTTPFault: strict decoding error: unknown field "spec\.delay\.percent"/);
    const warned = await kubectl('apply', '-f', typo, '--validate=warn');
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /^Warning: unknown field "spec\.delay\.percent"$/m);
  });

  void it('get lrl / hf / crd show the printer columns', async () => {
    const lrls = await kubectl('get', 'lrl');
    assert.equal(lrls.code, 0, lrls.stderr);
    assert.match(lrls.stdout, /^NAME\s+TARGET\s+RPS\s+ACCEPTED\s+AGE$/m);
    assert.match(lrls.stdout, /^reviews\s+reviews\s+10\s+\S+$/m);
    assert.match(lrls.stdout, /^ok\s+reviews\s+10\s+True\s+\S+$/m);
    const hfs = await kubectl('get', 'httpfaults');
    assert.match(hfs.stdout, /^NAME\s+DELAY\s+ABORT\s+ACCEPTED\s+AGE$/m);
    assert.match(hfs.stdout, /^reviews-faults\s+200ms\s+503\s+\S+$/m);
    const crds = await kubectl('get', 'crd');
    assert.match(crds.stdout, /^NAME\s+CREATED AT$/m);
    assert.match(crds.stdout, /^localratelimits\.ambit\.dev\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    assert.match(crds.stdout, /^httpfaults\.ambit\.dev\s+/m);
  });

  void it('explain reads the schema', async () => {
    const r = await kubectl('explain', 'localratelimit.spec.total');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /One bucket shared by every client of the Service\./);
    assert.match(r.stdout, /requestsPerSecond\s+<integer> -required-/);
  });
});
