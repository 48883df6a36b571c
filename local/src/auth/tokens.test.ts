import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KeyObject } from 'node:crypto';
import type { KubeObject } from '../kube/types.ts';
import { ApiError } from '../store/api-error.ts';
import { createServiceAccountTokens, DEFAULT_ISSUER, loadOrCreateSigningKey, type TokenObjectKind } from './tokens.ts';

function obj(kind: string, namespace: string | undefined, name: string, uid: string, spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind, metadata: { name, uid, ...(namespace !== undefined && { namespace }) }, spec };
}

/** A tiny cluster: objects by kind/namespace/name that a test edits in place. */
function world(): {
  objects: Map<string, KubeObject>;
  find: (k: TokenObjectKind, ns: string | undefined, n: string) => KubeObject | undefined;
} {
  const objects = new Map<string, KubeObject>();
  const add = (o: KubeObject): void => void objects.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`, o);
  add(obj('ServiceAccount', 'ns', 'sa', 'sa-uid'));
  add(obj('Pod', 'ns', 'p', 'pod-uid', { serviceAccountName: 'sa', nodeName: 'node-1' }));
  add(obj('Pod', 'ns', 'other', 'other-uid', { serviceAccountName: 'default' }));
  add(obj('Secret', 'ns', 's', 'secret-uid'));
  add(obj('Node', undefined, 'node-1', 'node-uid'));
  return { objects, find: (k, ns, n) => objects.get(`${k}/${k === 'Node' ? '' : (ns ?? '')}/${n}`) };
}

function claims(token: string): Record<string, unknown> {
  const [, payload = ''] = token.split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('ServiceAccount tokens', () => {
  let dir: string;
  let key: KeyObject;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ambit-tokens-'));
    key = await loadOrCreateSigningKey(join(dir, 'keys', 'sa.key'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the key it generated once, private to its owner', async () => {
    const path = join(dir, 'keys', 'sa.key');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const again = await loadOrCreateSigningKey(path);
    assert.deepEqual(again.export({ type: 'pkcs8', format: 'der' }), key.export({ type: 'pkcs8', format: 'der' }));
  });

  it('issues kube-apiserver claims and verifies them back to the ServiceAccount user', () => {
    const w = world();
    const t0 = 1_800_000_000_000;
    const tokens = createServiceAccountTokens({ signingKey: key, find: w.find, now: () => t0 });
    const issued = tokens.issue({ namespace: 'ns', serviceAccount: 'sa', boundObject: { kind: 'Pod', name: 'p', uid: 'pod-uid' } });
    assert.equal(issued.expirationTimestamp, new Date(t0 + 3607_000).toISOString().replace('.000Z', 'Z'));
    const header = JSON.parse(Buffer.from(issued.token.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    assert.equal(header['alg'], 'RS256');
    assert.equal(typeof header['kid'], 'string');
    const c = claims(issued.token);
    assert.equal(c['iss'], DEFAULT_ISSUER);
    assert.equal(c['sub'], 'system:serviceaccount:ns:sa');
    assert.deepEqual(c['aud'], [DEFAULT_ISSUER]);
    assert.equal(c['iat'], t0 / 1000);
    assert.equal(c['nbf'], t0 / 1000);
    assert.equal(c['exp'], t0 / 1000 + 3607);
    assert.deepEqual(c['kubernetes.io'], {
      namespace: 'ns',
      serviceaccount: { name: 'sa', uid: 'sa-uid' },
      pod: { name: 'p', uid: 'pod-uid' },
      node: { name: 'node-1', uid: 'node-uid' },
    });
    const user = tokens.verify(issued.token);
    assert.deepEqual(user, {
      username: 'system:serviceaccount:ns:sa',
      uid: 'sa-uid',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:ns', 'system:authenticated'],
      extra: {
        'authentication.kubernetes.io/pod-name': ['p'],
        'authentication.kubernetes.io/pod-uid': ['pod-uid'],
        'authentication.kubernetes.io/node-name': ['node-1'],
        'authentication.kubernetes.io/node-uid': ['node-uid'],
        'authentication.kubernetes.io/credential-id': [`JTI=${String(c['jti'])}`],
      },
    });
  });

  it('checks audiences: a token for the CA is not one for the API server', () => {
    const w = world();
    const tokens = createServiceAccountTokens({ signingKey: key, find: w.find });
    const { token } = tokens.issue({ namespace: 'ns', serviceAccount: 'sa', audiences: ['istio-ca'], expirationSeconds: 600 });
    assert.equal(tokens.verify(token), undefined);
    assert.equal(tokens.verify(token, ['istio-ca'])?.username, 'system:serviceaccount:ns:sa');
    const result = tokens.authenticate(token, ['other', 'istio-ca']);
    assert.deepEqual(result.ok && result.audiences, ['istio-ca']);
    const refused = tokens.authenticate(token);
    assert.deepEqual(refused, {
      ok: false,
      error: `[invalid bearer token, token audiences ["istio-ca"] is invalid for the target audiences ["${DEFAULT_ISSUER}"]]`,
    });
  });

  it('refuses expired, tampered, foreign and malformed tokens', () => {
    const w = world();
    let now = 1_800_000_000_000;
    const tokens = createServiceAccountTokens({ signingKey: key, find: w.find, now: () => now });
    const { token } = tokens.issue({ namespace: 'ns', serviceAccount: 'sa', expirationSeconds: 600 });
    assert.notEqual(tokens.verify(token), undefined);
    const [h, p, s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims(token), sub: 'system:serviceaccount:ns:admin' })).toString('base64url');
    assert.equal(tokens.verify(`${h ?? ''}.${forged}.${s ?? ''}`), undefined);
    assert.equal(tokens.verify(`${h ?? ''}.${p ?? ''}`), undefined);
    assert.equal(tokens.verify('not-a-token'), undefined);
    const other = createServiceAccountTokens({ signingKey: key, find: w.find, issuer: 'https://elsewhere' });
    assert.equal(tokens.verify(other.issue({ namespace: 'ns', serviceAccount: 'sa' }).token, ['https://elsewhere']), undefined);
    now += 660_000; // 600 s + go-jose's 60 s leeway
    assert.notEqual(tokens.verify(token), undefined);
    now += 1000;
    assert.deepEqual(tokens.authenticate(token), { ok: false, error: '[invalid bearer token, service account token has expired]' });
  });

  it('stops verifying once the ServiceAccount or bound object is gone or recreated', () => {
    const w = world();
    const tokens = createServiceAccountTokens({ signingKey: key, find: w.find });
    const podToken = tokens.issue({ namespace: 'ns', serviceAccount: 'sa', boundObject: { kind: 'Pod', name: 'p', uid: 'pod-uid' } }).token;
    const secretToken = tokens.issue({ namespace: 'ns', serviceAccount: 'sa', boundObject: { kind: 'Secret', name: 's', uid: '' } }).token;
    const plain = tokens.issue({ namespace: 'ns', serviceAccount: 'sa' }).token;
    assert.deepEqual(claims(secretToken)['kubernetes.io'], {
      namespace: 'ns',
      serviceaccount: { name: 'sa', uid: 'sa-uid' },
      secret: { name: 's', uid: 'secret-uid' },
    });
    w.objects.set('Pod/ns/p', obj('Pod', 'ns', 'p', 'new-pod-uid', { serviceAccountName: 'sa' }));
    assert.equal(tokens.verify(podToken), undefined);
    assert.notEqual(tokens.verify(plain), undefined);
    w.objects.delete('Secret/ns/s');
    assert.equal(tokens.verify(secretToken), undefined);
    w.objects.set('ServiceAccount/ns/sa', obj('ServiceAccount', 'ns', 'sa', 'sa-uid-2'));
    assert.deepEqual(tokens.authenticate(plain), {
      ok: false,
      error: '[invalid bearer token, service account UID (sa-uid) does not match claim (sa-uid-2)]',
    });
  });

  it('refuses requests kube-apiserver refuses, with its status', () => {
    const w = world();
    const tokens = createServiceAccountTokens({ signingKey: key, find: w.find });
    const failure = (fn: () => unknown): ApiError => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof ApiError);
        return err;
      }
      assert.fail('expected an ApiError');
    };
    const short = failure(() => tokens.issue({ namespace: 'ns', serviceAccount: 'sa', expirationSeconds: 599 }));
    assert.equal(short.status, 422);
    assert.equal(
      short.message,
      'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes',
    );
    const missing = failure(() => tokens.issue({ namespace: 'ns', serviceAccount: 'nope' }));
    assert.equal(missing.status, 404);
    assert.equal(missing.message, 'serviceaccounts "nope" not found');
    const stale = failure(() =>
      tokens.issue({ namespace: 'ns', serviceAccount: 'sa', boundObject: { kind: 'Pod', name: 'p', uid: 'old' } }),
    );
    assert.equal(stale.status, 409);
    const wrongSa = failure(() =>
      tokens.issue({ namespace: 'ns', serviceAccount: 'sa', boundObject: { kind: 'Pod', name: 'other', uid: 'other-uid' } }),
    );
    assert.equal(wrongSa.status, 400);
    assert.equal(wrongSa.message, 'cannot bind token for serviceaccount "sa" to pod running with different serviceaccount name.');
  });
});
