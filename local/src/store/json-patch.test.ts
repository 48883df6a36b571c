import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from './api-error.ts';
import { applyJsonPatch } from './json-patch.ts';

test('JSON patch applies RFC 6902 operations in order on a copy', () => {
  const doc = { metadata: { name: 'x', labels: { 'a/b': '1' } }, spec: { list: [1, 2, 3] } };
  const out = applyJsonPatch(doc, [
    { op: 'add', path: '/spec/list/-', value: 4 },
    { op: 'add', path: '/spec/list/0', value: 0 },
    { op: 'remove', path: '/spec/list/2' },
    { op: 'replace', path: '/metadata/labels/a~1b', value: '2' },
    { op: 'copy', from: '/metadata/name', path: '/spec/name' },
    { op: 'move', from: '/spec/name', path: '/spec/moved' },
    { op: 'test', path: '/spec/moved', value: 'x' },
  ]);
  assert.deepEqual(out, { metadata: { name: 'x', labels: { 'a/b': '2' } }, spec: { list: [0, 1, 3, 4], moved: 'x' } });
  assert.deepEqual(doc.spec.list, [1, 2, 3]);
});

test('a failing operation fails the whole patch with 422; a malformed one is 400', () => {
  const doc = { a: 1 };
  assert.throws(
    () => applyJsonPatch(doc, [{ op: 'test', path: '/a', value: 2 }]),
    (err: unknown) => err instanceof ApiError && err.status === 422 && /testing value \/a failed/.test(err.message),
  );
  assert.throws(
    () => applyJsonPatch(doc, [{ op: 'replace', path: '/missing', value: 2 }]),
    (err: unknown) => err instanceof ApiError && err.status === 422 && /missing path: \/missing/.test(err.message),
  );
  assert.throws(
    () => applyJsonPatch(doc, { op: 'add' }),
    (err: unknown) => err instanceof ApiError && err.status === 400,
  );
});
