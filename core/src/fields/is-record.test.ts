import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asRecord, isRecord } from './is-record.ts';

test('a record is a plain object: not null, not an array, not a primitive', () => {
  assert.deepEqual([{}, { a: 1 }, Object.create(null)].map(isRecord), [true, true, true]);
  assert.deepEqual([null, undefined, [], [1], 'x', 3, true].map(isRecord), [false, false, false, false, false, false, false]);
});

test('asRecord gives the object itself or an empty one', () => {
  const o = { a: 1 };
  assert.equal(asRecord(o), o);
  assert.deepEqual([null, [1], 'x'].map(asRecord), [{}, {}, {}]);
});
