import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fnv1a64, hash53 } from './hash.ts';
import { buildMaglev, nextPrime } from './maglev.ts';
import { buildRingHash } from './ring-hash.ts';
import type { HashTable } from './hash-table.ts';

const hex = ([hi, lo]: [number, number]): string => hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
const hosts = (n: number): string[] => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:8080`);
const all = (): boolean => true;

test('FNV-1a 64 in 32-bit halves matches the reference vectors; hash53 is an exact integer', () => {
  assert.equal(hex(fnv1a64('')), 'cbf29ce484222325');
  assert.equal(hex(fnv1a64('a')), 'af63dc4c8601ec8c');
  assert.equal(hex(fnv1a64('foobar')), '85944171f73967e8');
  for (const s of ['', 'x', 'user-1', 'é€']) {
    const h = hash53(s);
    assert.ok(Number.isSafeInteger(h) && h >= 0, `${s}: ${h}`);
    assert.equal(hash53(s), h, 'deterministic');
  }
  assert.notEqual(hash53('k', 0), hash53('k', 1), 'the seed gives an independent hash');
});

function spread(t: HashTable, keys: number): number[] {
  const counts: number[] = [];
  for (let i = 0; i < keys; i++) {
    const h = t.lookup(hash53(`user-${i}`), all) as number;
    counts[h] = (counts[h] ?? 0) + 1;
  }
  return counts;
}

function moved(a: HashTable, b: HashTable, map: (host: number) => number, keys: number): number {
  let n = 0;
  for (let i = 0; i < keys; i++) {
    const h = hash53(`user-${i}`);
    if (map(a.lookup(h, all) as number) !== b.lookup(h, all)) n++;
  }
  return n;
}

for (const [name, build] of [
  ['ring hash', (keys: readonly string[]) => buildRingHash(keys, 1024)],
  ['maglev', (keys: readonly string[]) => buildMaglev(keys, 65537)],
] as const) {
  test(`${name}: keys spread over the hosts, and removing one host moves only its own keys`, () => {
    const four = build(hosts(4));
    const counts = spread(four, 8000);
    assert.equal(counts.length, 4);
    for (const c of counts) assert.ok(c > 8000 / 4 / 1.5 && c < (8000 / 4) * 1.5, `uneven: ${counts.join(',')}`);
    // Host 2 (10.0.0.3) removed: hosts 0,1,3 become 0,1,2.
    const three = build(hosts(4).filter((_, i) => i !== 2));
    const map = (h: number): number => (h < 2 ? h : h - 1);
    let movedOthers = 0;
    for (let i = 0; i < 8000; i++) {
      const h = hash53(`user-${i}`);
      const before = four.lookup(h, all) as number;
      if (before !== 2 && map(before) !== three.lookup(h, all)) movedOthers++;
    }
    // Not zero for either: Maglev's refill shifts a few slots (its paper: minimal, not zero, disruption), and the
    // ring gives each remaining host more points (ceil(minimumRingSize / hosts), as Envoy) that take some keys from
    // their neighbours. Hashing mod N would move three quarters.
    assert.ok(movedOthers <= 6000 * 0.15, `${movedOthers} keys of remaining hosts moved`);
    assert.ok(moved(four, three, map, 8000) < 8000 * 0.4, "the removed host's quarter and little more moves");
  });

  test(`${name}: an unusable host's keys walk on to the next usable host; the others stay`, () => {
    const t = build(hosts(3));
    const usable = (h: number): boolean => h !== 1;
    for (let i = 0; i < 2000; i++) {
      const h = hash53(`k${i}`);
      const normal = t.lookup(h, all) as number;
      const skipping = t.lookup(h, usable) as number;
      assert.notEqual(skipping, 1);
      if (normal !== 1) assert.equal(skipping, normal, 'keys of usable hosts do not move');
    }
    assert.equal(
      t.lookup(hash53('x'), () => false),
      undefined,
    );
    assert.equal(build([]).lookup(hash53('x'), all), undefined);
  });
}

test('ring size: ceil(minimumRingSize / hosts) points per host; Maglev table size is raised to a prime', () => {
  assert.equal(buildRingHash(hosts(3), 1024).size, 342 * 3);
  assert.equal(buildMaglev(hosts(3), 65537).size, 65537);
  assert.equal(buildMaglev(hosts(3), 1000).size, 1009);
  assert.equal(nextPrime(65536), 65537);
  assert.equal(nextPrime(2), 2);
});
