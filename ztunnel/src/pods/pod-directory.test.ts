import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ZdsPod } from '@ambit/core/zds';
import { createPodRegistry, type CapturedPod } from './pod-directory.ts';

function pod(uid: string, ips: string[]): CapturedPod {
  const info: ZdsPod = { uid, name: uid, namespace: 't', serviceAccount: 'sa', netns: `/run/netns/${uid}`, ips };
  return { info, identity: 'spiffe://cluster.local/ns/t/sa/sa', netnsFd: -1 };
}

test('a pod is found by uid and by each address, IPv4-mapped spellings included, until it is removed', () => {
  const registry = createPodRegistry<CapturedPod>();
  const a = pod('a', ['10.0.0.1', 'fd00::1']);
  registry.put(a);
  assert.equal(registry.byUid('a'), a);
  assert.equal(registry.byIp('10.0.0.1'), a);
  assert.equal(registry.byIp('::ffff:10.0.0.1'), a);
  assert.equal(registry.byIp('fd00::1'), a);
  assert.deepEqual(registry.pods(), [a]);
  registry.remove(a);
  assert.equal(registry.byUid('a'), undefined);
  assert.equal(registry.byIp('10.0.0.1'), undefined);
  assert.equal(registry.byIp('fd00::1'), undefined);
  assert.deepEqual(registry.pods(), []);
});

test('removing a pod leaves an address that a later pod took over with that pod', () => {
  const registry = createPodRegistry<CapturedPod>();
  const old = pod('old', ['10.0.0.1', '10.0.0.2']);
  const next = pod('next', ['10.0.0.1']);
  registry.put(old);
  registry.put(next);
  assert.equal(registry.byIp('10.0.0.1'), next);
  registry.remove(old);
  assert.equal(registry.byIp('10.0.0.1'), next);
  assert.equal(registry.byIp('10.0.0.2'), undefined);
  assert.deepEqual(registry.pods(), [next]);
});

test('removing a pod that was replaced under its uid leaves the replacement', () => {
  const registry = createPodRegistry<CapturedPod>();
  const first = pod('a', ['10.0.0.1']);
  const second = pod('a', ['10.0.0.1']);
  registry.put(first);
  registry.put(second);
  registry.remove(first);
  assert.equal(registry.byUid('a'), second);
  assert.equal(registry.byIp('10.0.0.1'), second);
});
