import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createResourceStore, resourceVersion } from './resource-store.ts';

const T = 'type.googleapis.com/test.Thing';
const b = (s: string) => Buffer.from(s);

test('versions are a hash of the bytes; only real changes are reported', () => {
  const store = createResourceStore();
  assert.equal(store.has(T), false);
  assert.deepEqual(
    store.apply(T, {
      upserted: [
        { name: 'a', body: b('1') },
        { name: 'b', body: b('2') },
      ],
      removed: [],
    }),
    ['a', 'b'],
  );
  assert.equal(store.get(T, 'a')?.version, resourceVersion(b('1')));
  assert.match(resourceVersion(b('1')), /^[0-9a-f]{16}$/);
  assert.deepEqual(store.apply(T, { upserted: [{ name: 'a', body: b('1') }], removed: ['missing'] }), []);
  assert.deepEqual(store.apply(T, { upserted: [{ name: 'a', body: b('1b') }], removed: ['b'] }), ['a', 'b']);
  assert.deepEqual([...store.names(T)], ['a']);
  assert.equal(store.size(T), 1);
  assert.equal(store.has(T), true);
});

test('a contradictory publish is refused and leaves the state untouched', () => {
  const store = createResourceStore();
  store.apply(T, { upserted: [{ name: 'a', body: b('1') }], removed: [] });
  assert.throws(
    () =>
      store.apply(T, {
        upserted: [
          { name: 'a', body: b('2') },
          { name: 'c', body: b('3') },
        ],
        removed: ['c'],
      }),
    /"c" is both upserted and removed/,
  );
  assert.throws(() => store.apply(T, { upserted: [{ name: '', body: b('2') }], removed: [] }), /empty name/);
  assert.equal(store.get(T, 'a')?.body.toString(), '1');
  assert.equal(store.size(T), 1);
});
