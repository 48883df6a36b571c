import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesToIp, ipToBytes } from './ip-bytes.ts';

test('IPv4 is 4 raw bytes and round-trips', () => {
  assert.deepEqual(Array.from(ipToBytes('10.244.1.5')), [10, 244, 1, 5]);
  assert.equal(bytesToIp(ipToBytes('10.244.1.5')), '10.244.1.5');
  assert.equal(bytesToIp(ipToBytes('0.0.0.0')), '0.0.0.0');
});

test('IPv6 is 16 raw bytes and round-trips in RFC 5952 form', () => {
  for (const ip of ['fd00::1', '::', '::1', '2001:db8::1:0:0:1', '2001:db8:0:1:1:1:1:1', 'fe80::', '1::', '::ffff:10.0.0.1']) {
    const b = ipToBytes(ip);
    assert.equal(b.length, 16);
    assert.equal(bytesToIp(b), ip);
  }
  assert.deepEqual(Array.from(ipToBytes('fd00::1')), [0xfd, 0, ...new Array<number>(13).fill(0), 1]);
});

test('non-canonical IPv6 spellings decode to the canonical form', () => {
  assert.equal(bytesToIp(ipToBytes('FD00:0:0:0:0:0:0:1')), 'fd00::1');
  assert.equal(bytesToIp(ipToBytes('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  assert.equal(bytesToIp(ipToBytes('::ffff:a00:1')), '::ffff:10.0.0.1');
});

test('rejects what is not an address', () => {
  assert.throws(() => ipToBytes('10.0.0.256'), /not an IP address/);
  assert.throws(() => ipToBytes('example.com'), /not an IP address/);
  assert.throws(() => bytesToIp(new Uint8Array(5)), /4 or 16 bytes, got 5/);
});
