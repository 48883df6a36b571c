import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../errors.ts';
import { parseSpiffeId, spiffeId } from './spiffe.ts';

test('spiffeId formats Istio identities and parseSpiffeId reads them back', () => {
  const id = spiffeId('cluster.local', 'demo', 'web');
  assert.equal(id, 'spiffe://cluster.local/ns/demo/sa/web');
  assert.deepEqual(parseSpiffeId(id), { trustDomain: 'cluster.local', namespace: 'demo', serviceAccount: 'web' });
});

const invalid: Array<[string, RegExp]> = [
  ['cluster.local/ns/demo/sa/web', /must start with spiffe:\/\//],
  ['spiffe://cluster.local/ns/demo/sa', /exactly/],
  ['spiffe://cluster.local/ns/demo/sa/web/extra', /exactly/],
  ['spiffe://cluster.local/namespace/demo/sa/web', /"ns"/],
  ['spiffe://cluster.local/ns/demo/serviceaccount/web', /"sa"/],
  ['spiffe:///ns/demo/sa/web', /trust domain/],
  ['spiffe://Cluster.Local/ns/demo/sa/web', /trust domain/],
  ['spiffe://cluster.local/ns//sa/web', /namespace segment/],
  ['spiffe://cluster.local/ns/demo/sa/', /service account segment/],
  ['spiffe://cluster.local/ns/../sa/web', /namespace segment/],
  ['SPIFFE://cluster.local/ns/demo/sa/web', /must start/],
];
for (const [text, why] of invalid) {
  test(`parseSpiffeId rejects ${JSON.stringify(text)}`, () => {
    assert.throws(
      () => parseSpiffeId(text),
      (err: unknown) => hasCode(err, 'INVALID_SPIFFE_ID') && why.test((err as Error).message),
    );
  });
}
