import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../errors.ts';
import { parseSpiffeUri, spiffeUri } from './spiffe-uri.ts';

test('parses Istio-shaped SPIFFE IDs', () => {
  assert.deepEqual(parseSpiffeUri('spiffe://cluster.local/ns/default/sa/bookinfo-productpage'), {
    trustDomain: 'cluster.local',
    namespace: 'default',
    serviceAccount: 'bookinfo-productpage',
    uri: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
  });
  assert.equal(spiffeUri('td', 'ns1', 'sa1'), 'spiffe://td/ns/ns1/sa/sa1');
});

const invalid: ReadonlyArray<readonly [string, string]> = [
  ['not a URI', 'default'],
  ['other scheme', 'https://cluster.local/ns/a/sa/b'],
  ['upper-case trust domain', 'spiffe://Cluster.local/ns/a/sa/b'],
  ['empty trust domain', 'spiffe:///ns/a/sa/b'],
  ['missing sa', 'spiffe://td/ns/a'],
  ['extra segment', 'spiffe://td/ns/a/sa/b/c'],
  ['swapped keys', 'spiffe://td/sa/a/ns/b'],
  ['dot segment', 'spiffe://td/ns/../sa/b'],
  ['empty namespace', 'spiffe://td/ns//sa/b'],
  ['query', 'spiffe://td/ns/a/sa/b?x=1'],
  ['too long', `spiffe://td/ns/a/sa/${'b'.repeat(3000)}`],
];

for (const [name, uri] of invalid) {
  test(`refuses ${name}`, () => {
    assert.throws(
      () => parseSpiffeUri(uri),
      (err: unknown) => hasCode(err, 'INVALID_SPIFFE_ID'),
    );
  });
}
