import assert from 'node:assert/strict';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import type { KubeObject } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import { ObjectStore } from '../store/object-store.ts';
import { createServingCert } from './self-signed-cert.ts';
import { createApiServer, type ApiServer } from './server.ts';

const TOKEN = 'test-token';
const dir = mkdtempSync(join(tmpdir(), 'ambit-api-'));
const store = new ObjectStore({ historyLimit: 50 });
let api: ApiServer;

before(async () => {
  api = await createApiServer({
    store,
    listen: { host: '127.0.0.1', port: 0 },
    socketPath: join(dir, 'api.sock'),
    token: TOKEN,
    log: silentLogger(),
    tls: false,
    bookmarkIntervalMs: 100,
    maxBodyBytes: 64 * 1024,
    extensions: {
      echo: async (body) => ({ got: body }),
      fail: async () => {
        throw ApiError.badRequest('extension refused');
      },
    },
  });
});
after(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Res {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
}

async function call(
  method: string,
  path: string,
  opts: { body?: unknown; contentType?: string; accept?: string; token?: string | null } = {},
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token !== null) headers['Authorization'] = `Bearer ${opts.token ?? TOKEN}`;
  if (opts.accept !== undefined) headers['Accept'] = opts.accept;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['Content-Type'] = opts.contentType ?? 'application/json';
  }
  const res = await fetch(api.url + path, body === undefined ? { method, headers } : { method, headers, body });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text },
  };
}

function pod(name: string, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'i' }] }, ...extra };
}

/** Reads a watch stream line by line until `done` says so, then aborts it. */
async function watchLines(
  path: string,
  done: (lines: Array<{ type: string; object: KubeObject }>) => boolean,
  afterStart?: () => void,
): Promise<Array<{ type: string; object: KubeObject }>> {
  const ac = new AbortController();
  const res = await fetch(api.url + path, { headers: { Authorization: `Bearer ${TOKEN}` }, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.equal(res.headers.get('transfer-encoding'), 'chunked');
  const lines: Array<{ type: string; object: KubeObject }> = [];
  const reader = res.body?.getReader();
  assert.ok(reader);
  afterStart?.();
  let buf = '';
  const decoder = new TextDecoder();
  try {
    while (!done(lines)) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buf += decoder.decode(value, { stream: true });
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, nl)) as { type: string; object: KubeObject });
        buf = buf.slice(nl + 1);
      }
    }
  } finally {
    ac.abort();
    await reader.cancel().catch(() => undefined);
  }
  return lines;
}

void describe('API server over HTTP', () => {
  void it('refuses requests without the bearer token with a 401 Status', async () => {
    for (const token of [null, 'wrong']) {
      const r = await call('GET', '/api/v1/pods', { token });
      assert.equal(r.status, 401);
      assert.deepEqual(r.body, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      });
    }
  });

  void it('refuses to listen anywhere but 127.0.0.1', async () => {
    await assert.rejects(
      createApiServer({ store, listen: { host: '0.0.0.0', port: 0 }, token: 'x', log: silentLogger() }),
      /only listens on 127.0.0.1/,
    );
  });

  void it('trusts requests on the unix socket (mode 0600) without a token', async () => {
    assert.equal(statSync(join(dir, 'api.sock')).mode & 0o777, 0o600);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: join(dir, 'api.sock'), path: '/api/v1/namespaces', method: 'GET' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`status ${res.statusCode ?? 0}: ${text}`))));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal((JSON.parse(body) as { kind: string }).kind, 'NamespaceList');
  });

  void it('serves discovery and health', async () => {
    const version = await call('GET', '/version');
    assert.equal(version.body['gitVersion'], 'v1.32.0-ambit');
    const aggregated = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';
    const apis = await call('GET', '/apis', { accept: aggregated });
    assert.equal(apis.contentType, 'application/json', 'plain JSON so kubectl falls back to unaggregated discovery');
    const groups = (apis.body['groups'] as Array<{ name: string }>).map((g) => g.name);
    assert.ok(groups.includes('apps') && groups.includes('security.istio.io') && groups.includes('gateway.networking.k8s.io'));
    assert.deepEqual((await call('GET', '/api')).body['versions'], ['v1']);
    const core = await call('GET', '/api/v1');
    const resources = core.body['resources'] as Array<{ name: string; shortNames?: string[]; verbs: string[]; namespaced: boolean }>;
    assert.deepEqual(resources.find((r) => r.name === 'pods')?.shortNames, ['po']);
    assert.ok(resources.some((r) => r.name === 'pods/status'));
    assert.equal(resources.find((r) => r.name === 'nodes')?.namespaced, false);
    assert.equal((await call('GET', '/apis/apps/v1')).body['groupVersion'], 'apps/v1');
    assert.equal((await call('GET', '/openapi/v2')).body['swagger'], '2.0');
    // OpenAPI v3 of built-in kinds (openapi.test.ts); CRD kinds in custom-resources.test.ts.
    assert.ok(Object.keys((await call('GET', '/openapi/v3')).body['paths'] as object).includes('api/v1'));
    assert.equal((await call('GET', '/openapi/v3/apis/nope.example.com/v1')).status, 404);
    assert.ok(resources.some((r) => r.name === 'pods/log'));
    assert.equal((await call('GET', '/healthz')).body['text'], 'ok');
    assert.equal((await call('GET', '/apis/nope.example.com/v1')).status, 404);
    assert.equal((await call('GET', '/api', { accept: 'application/vnd.kubernetes.protobuf' })).status, 406);
  });

  void it('creates, gets, lists, updates, patches and deletes', async () => {
    const created = await call('POST', '/api/v1/namespaces/default/pods', {
      body: pod('crud', { metadata: { name: 'crud', labels: { app: 'a' } } }),
    });
    assert.equal(created.status, 201);
    assert.equal((created.body['metadata'] as { namespace: string }).namespace, 'default', 'namespace defaulted from the URL');
    const got = await call('GET', '/api/v1/namespaces/default/pods/crud');
    assert.equal(got.body['kind'], 'Pod');
    const list = await call('GET', '/api/v1/pods?labelSelector=app%3Da&limit=1');
    assert.equal(list.body['kind'], 'PodList');
    assert.equal((list.body['metadata'] as { continue?: string }).continue, undefined);
    assert.ok((list.body['metadata'] as { resourceVersion: string }).resourceVersion !== '');
    assert.deepEqual(
      (list.body['items'] as KubeObject[]).map((i) => [i.apiVersion, i.kind, i.metadata.name]),
      [['v1', 'Pod', 'crud']],
    );
    const put = await call('PUT', '/api/v1/namespaces/default/pods/crud', {
      body: { ...got.body, metadata: { ...(got.body['metadata'] as object), labels: { app: 'b' } } },
    });
    assert.equal(put.status, 200);
    const stale = await call('PUT', '/api/v1/namespaces/default/pods/crud', { body: got.body });
    assert.equal(stale.status, 409);
    assert.equal(stale.body['reason'], 'Conflict');
    const status = await call('PATCH', '/api/v1/namespaces/default/pods/crud/status', {
      body: { status: { podIP: '10.0.0.9' } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal((status.body['status'] as { podIP: string }).podIP, '10.0.0.9');
    const smp = await call('PATCH', '/api/v1/namespaces/default/pods/crud', {
      body: { metadata: { labels: { x: 'y' } } },
      contentType: 'application/strategic-merge-patch+json',
    });
    assert.deepEqual((smp.body['metadata'] as { labels: object }).labels, { app: 'b', x: 'y' });
    const jsonPatch = await call('PATCH', '/api/v1/namespaces/default/pods/crud', {
      body: [{ op: 'add', path: '/metadata/labels/jp', value: 'yes' }],
      contentType: 'application/json-patch+json',
    });
    assert.equal(jsonPatch.status, 200, JSON.stringify(jsonPatch.body));
    assert.equal((jsonPatch.body['metadata'] as { labels: Record<string, string> }).labels['jp'], 'yes');
    const unknownType = await call('PATCH', '/api/v1/namespaces/default/pods/crud', { body: {}, contentType: 'application/x-unknown' });
    assert.equal(unknownType.status, 415);
    assert.equal(unknownType.body['reason'], 'UnsupportedMediaType');
    // Server-side apply is served (kubectl-as-typed.test.ts, store/server-side-apply.test.ts); it needs a field manager.
    const noManager = await call('PATCH', '/api/v1/namespaces/default/pods/crud', {
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crud' } },
      contentType: 'application/apply-patch+yaml',
    });
    assert.equal(noManager.status, 422);
    assert.equal(
      noManager.body['message'],
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
    const forced = await call('PATCH', '/api/v1/namespaces/default/pods/crud?force=true', {
      body: { metadata: { labels: { x: 'y' } } },
      contentType: 'application/merge-patch+json',
    });
    assert.equal(forced.status, 422);
    assert.equal(
      forced.body['message'],
      'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
    );
    // A strategic merge patch with lists merges them by their key on Kubernetes' own kinds (what kubectl apply sends).
    const merged = await call('PATCH', '/api/v1/namespaces/default/pods/crud', {
      body: { spec: { containers: [{ name: 'c', image: 'j' }] } },
      contentType: 'application/strategic-merge-patch+json',
    });
    assert.equal(merged.status, 200, JSON.stringify(merged.body));
    assert.deepEqual((merged.body['spec'] as { containers: unknown[] }).containers, [{ name: 'c', image: 'j' }]);
    const dry = await call('DELETE', '/api/v1/namespaces/default/pods/crud?dryRun=All');
    assert.equal(dry.status, 200);
    assert.equal((await call('GET', '/api/v1/namespaces/default/pods/crud')).status, 200);
    const del = await call('DELETE', '/api/v1/namespaces/default/pods/crud', {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
    });
    assert.equal(del.status, 200);
    const gone = await call('GET', '/api/v1/namespaces/default/pods/crud');
    assert.equal(gone.status, 404);
    assert.equal(gone.body['message'], 'pods "crud" not found');
    assert.deepEqual(gone.body['details'], { name: 'crud', kind: 'pods' });
  });

  void it('answers bad requests with the right Status', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['POST', '/api/v1/namespaces/default/pods', '{"kind": "Pod", ', 400, 'BadRequest'],
      ['POST', '/api/v1/namespaces/other/pods', pod('p', { metadata: { name: 'p', namespace: 'default' } }), 400, 'BadRequest'],
      ['POST', '/api/v1/namespaces/default/pods', { ...pod('p'), kind: 'Service' }, 400, 'BadRequest'],
      ['POST', '/api/v1/namespaces/default/pods', pod('Bad_Name'), 422, 'Invalid'],
      ['POST', '/api/v1/namespaces/missing/pods', pod('p'), 404, 'NotFound'],
      ['POST', '/api/v1/namespaces/default/pods', { big: 'x'.repeat(70 * 1024) }, 413, 'RequestEntityTooLarge'],
      ['DELETE', '/api/v1/namespaces/default/pods', undefined, 405, 'MethodNotAllowed'],
      ['GET', '/api/v1/namespaces/default/pods/p/log', undefined, 404, 'NotFound'],
      ['POST', '/api/v1/namespaces/default/pods/p/exec', undefined, 404, 'NotFound'],
      ['GET', '/api/v1/namespaces/default/nothings', undefined, 404, 'NotFound'],
      ['GET', '/api/v1/namespaces/default/nodes/n', undefined, 404, 'NotFound'],
      ['GET', '/api/v1/pods?labelSelector=a%20in%20(', undefined, 400, 'BadRequest'],
      ['GET', '/nowhere', undefined, 404, 'NotFound'],
      ['GET', '/ambit/v1/echo', undefined, 405, 'MethodNotAllowed'],
      ['POST', '/ambit/v1/fail', {}, 400, 'BadRequest'],
      ['POST', '/api/v1/namespaces/default/pods?dryRun=Some', pod('p'), 400, 'BadRequest'],
    ];
    for (const [method, path, body, status, reason] of cases) {
      const r = await call(method, path, body === undefined ? {} : { body });
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body['kind'], 'Status');
      assert.equal(r.body['reason'], reason, `${method} ${path}`);
    }
    const invalid = await call('POST', '/api/v1/namespaces/default/pods', { body: pod('Bad_Name') });
    const causes = (invalid.body['details'] as { causes: Array<{ field: string; reason: string }> }).causes;
    assert.equal(causes[0]?.field, 'metadata.name');
    assert.equal(causes[0]?.reason, 'FieldValueInvalid');
  });

  void it('calls extensions with the parsed body', async () => {
    const r = await call('POST', '/ambit/v1/echo', { body: { objects: [1, 2] } });
    assert.deepEqual(r.body, { got: { objects: [1, 2] } });
  });

  void it('renders Tables for as=Table', async () => {
    await call('POST', '/api/v1/namespaces/default/pods', {
      body: pod('tbl', { spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'i' }] } }),
    });
    await call('PATCH', '/api/v1/namespaces/default/pods/tbl/status', {
      body: { status: { phase: 'Running', podIP: '10.1.2.3', containerStatuses: [{ name: 'c', ready: true, restartCount: 2 }] } },
      contentType: 'application/merge-patch+json',
    });
    const r = await call('GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dtbl', {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    assert.equal(r.body['kind'], 'Table');
    const cols = (r.body['columnDefinitions'] as Array<{ name: string; priority: number }>).map((c) => `${c.name}:${c.priority}`);
    assert.deepEqual(cols, ['Name:0', 'Ready:0', 'Status:0', 'Restarts:0', 'Age:0', 'IP:1', 'Node:1']);
    const row = (r.body['rows'] as Array<{ cells: unknown[]; object: KubeObject }>)[0];
    assert.deepEqual(row?.cells.slice(0, 4), ['tbl', '1/1', 'Running', '2']);
    assert.deepEqual(row?.cells.slice(5), ['10.1.2.3', 'node-1']);
    assert.equal(row?.object.kind, 'PartialObjectMetadata');
    assert.equal(row?.object.metadata.namespace, 'default');
    const full = await call('GET', '/api/v1/namespaces/default/pods/tbl?includeObject=Object', {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    assert.equal((full.body['rows'] as Array<{ object: KubeObject }>)[0]?.object.kind, 'Pod');
    const ns = await call('GET', '/api/v1/namespaces', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    assert.deepEqual(
      (ns.body['columnDefinitions'] as Array<{ name: string }>).map((c) => c.name),
      ['Name', 'Status', 'Age'],
    );
  });
});

void describe('API server watches', () => {
  void it('sends the current state as ADDED, then changes', async () => {
    await call('POST', '/api/v1/namespaces/default/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1', labels: { w: 'yes' } } },
    });
    const lines = await watchLines(
      '/api/v1/namespaces/default/configmaps?watch=true&labelSelector=w%3Dyes',
      (l) => l.length >= 2,
      () =>
        void call('POST', '/api/v1/namespaces/default/configmaps', {
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w2', labels: { w: 'yes' } } },
        }),
    );
    assert.deepEqual(
      lines.map((l) => `${l.type} ${l.object.metadata.name ?? ''}`),
      ['ADDED w1', 'ADDED w2'],
    );
    assert.equal(lines[0]?.object.kind, 'ConfigMap');
  });

  void it('resumes after a resourceVersion, also through the legacy /watch/ path', async () => {
    const rv = store.resourceVersion;
    await call('POST', '/api/v1/namespaces/default/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w3' } },
    });
    const lines = await watchLines(`/api/v1/watch/namespaces/default/configmaps?resourceVersion=${rv}`, (l) => l.length >= 1);
    assert.deepEqual(
      lines.map((l) => `${l.type} ${l.object.metadata.name ?? ''}`),
      ['ADDED w3'],
    );
  });

  void it('reports an expired resourceVersion as an in-stream 410 ERROR event', async () => {
    for (let i = 0; i < 60; i++)
      await call('POST', '/api/v1/namespaces/default/configmaps', {
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'fill-' } },
      });
    const lines = await watchLines('/api/v1/configmaps?watch=1&resourceVersion=1', (l) => l.length >= 1);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.type, 'ERROR');
    assert.equal(lines[0]?.object.kind, 'Status');
    assert.equal(lines[0]?.object['code'], 410);
    assert.equal(lines[0]?.object['reason'], 'Expired');
  });

  void it('sends bookmarks when allowed', async () => {
    const lines = await watchLines(
      `/api/v1/namespaces/default/secrets?watch=1&allowWatchBookmarks=true&resourceVersion=${store.resourceVersion}`,
      (l) => l.length >= 2,
    );
    for (const l of lines) {
      assert.equal(l.type, 'BOOKMARK');
      assert.equal(l.object.kind, 'Secret');
      assert.equal(l.object.apiVersion, 'v1');
      assert.equal(l.object.metadata.resourceVersion, store.resourceVersion);
    }
  });

  void it('ends the stream after timeoutSeconds', async () => {
    const started = Date.now();
    const lines = await watchLines(
      `/api/v1/namespaces/default/secrets?watch=1&timeoutSeconds=1&resourceVersion=${store.resourceVersion}`,
      () => false,
    );
    assert.deepEqual(lines, []);
    assert.ok(Date.now() - started >= 900);
  });

  void it('wraps events in one-row Tables for as=Table', async () => {
    const ac = new AbortController();
    const res = await fetch(`${api.url}/api/v1/namespaces/default/pods?watch=1&resourceVersion=${store.resourceVersion}`, {
      headers: { Authorization: `Bearer ${TOKEN}`, Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
      signal: ac.signal,
    });
    await call('POST', '/api/v1/namespaces/default/pods', { body: pod('watched') });
    const text = await eventually(async () => {
      const reader = res.body?.getReader();
      assert.ok(reader);
      const { value } = await reader.read();
      reader.releaseLock();
      return new TextDecoder().decode(value);
    }, 5000);
    ac.abort();
    const ev = JSON.parse(text.split('\n')[0] ?? '') as { type: string; object: { kind: string; rows: Array<{ cells: unknown[] }> } };
    assert.equal(ev.type, 'ADDED');
    assert.equal(ev.object.kind, 'Table');
    assert.equal(ev.object.rows[0]?.cells[0], 'watched');
  });

  void it('ends open watches when the server closes', async () => {
    const other = await createApiServer({ store, listen: { host: '127.0.0.1', port: 0 }, token: TOKEN, log: silentLogger(), tls: false });
    const res = await fetch(`${other.url}/api/v1/pods?watch=1&resourceVersion=${store.resourceVersion}`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(res.status, 200);
    await other.close();
    const text = await res.text().catch(() => '');
    assert.equal(text, '');
  });
});

void describe('API server over a TLS unix socket', () => {
  /** One GET over `socketPath` with TLS, checking the certificate against 127.0.0.1 as a client of the TCP port does. */
  const getOverTls = (socketPath: string, ca: string, token: string | undefined): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
      const req = httpsRequest({ socketPath, host: '127.0.0.1', path: '/api/v1/namespaces', ca, headers, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end();
    });

  void it('speaks what the TCP listener speaks: the same certificate (SAN 127.0.0.1), the token required; mode 0600', async () => {
    const tls = await createServingCert();
    const tlsSocketPath = join(dir, 'api-tls.sock');
    const other = await createApiServer({
      store,
      listen: { host: '127.0.0.1', port: 0 },
      tlsSocketPath,
      token: TOKEN,
      log: silentLogger(),
      tls,
    });
    try {
      assert.equal(other.tlsSocketPath, tlsSocketPath);
      assert.equal(statSync(tlsSocketPath).mode & 0o777, 0o600);
      const ok = await getOverTls(tlsSocketPath, tls.certPem, TOKEN);
      assert.equal(ok.status, 200, ok.text);
      assert.equal((JSON.parse(ok.text) as { kind: string }).kind, 'NamespaceList');
      assert.equal((await getOverTls(tlsSocketPath, tls.certPem, undefined)).status, 401);
      assert.equal((await getOverTls(tlsSocketPath, tls.certPem, 'wrong')).status, 401);
      // Another CA: the handshake fails, as it would on the TCP port.
      await assert.rejects(getOverTls(tlsSocketPath, (await createServingCert()).certPem, TOKEN), /certificate|self.signed|verify/i);
    } finally {
      await other.close();
    }
    assert.throws(() => statSync(tlsSocketPath), /ENOENT/, 'close removes the socket file');
  });

  void it('is refused without TLS', async () => {
    await assert.rejects(
      createApiServer({
        store,
        listen: { host: '127.0.0.1', port: 0 },
        tlsSocketPath: join(dir, 'x.sock'),
        token: TOKEN,
        log: silentLogger(),
        tls: false,
      }),
      /needs tls/,
    );
  });
});
