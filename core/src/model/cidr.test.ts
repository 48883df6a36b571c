import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../errors.ts';
import { parseCidr } from './cidr.ts';

const valid: Array<[string, { address: string; length: number }]> = [
  ['10.0.0.0/8', { address: '10.0.0.0', length: 8 }],
  ['10.1.2.3', { address: '10.1.2.3', length: 32 }],
  ['0.0.0.0/0', { address: '0.0.0.0', length: 0 }],
  ['fd00::/64', { address: 'fd00::', length: 64 }],
  ['fd00::1', { address: 'fd00::1', length: 128 }],
  ['::/0', { address: '::', length: 0 }],
];
for (const [text, want] of valid) {
  test(`parseCidr ${text}`, () => assert.deepEqual(parseCidr(text), want));
}

for (const text of ['', '10.0.0.0/33', 'fd00::/129', '10.0.0/8', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'host/24', '10.0.0.0/ 8']) {
  test(`parseCidr rejects ${JSON.stringify(text)}`, () => {
    assert.throws(
      () => parseCidr(text),
      (err: unknown) => hasCode(err, 'INVALID_CIDR'),
    );
  });
}
