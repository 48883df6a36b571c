import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { silentLogger } from '@ambit/core';
import { eventually } from '@ambit/core/testing';
import { KubeClient } from '@ambit/core/kube';
import { LeaseElection } from '../../controller/src/leader/lease-election.ts';
import { LocalApi } from './helpers/local-api.ts';

const api = new LocalApi();
const electors: LeaseElection[] = [];
after(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  await api.stop();
});

test('two replicas: exactly one leads; when it stops, the other takes over', async () => {
  await api.start();
  const mk = (identity: string): LeaseElection => {
    const e = new LeaseElection({
      client: new KubeClient(api.kubeConfig()),
      namespace: 'ambit-system',
      name: 'ambit-controller',
      identity,
      leaseDurationMs: 1500,
      renewIntervalMs: 200,
      log: silentLogger(),
    });
    electors.push(e);
    e.start();
    return e;
  };
  const a = mk('replica-a');
  const b = mk('replica-b');
  await eventually(() => assert.equal([a, b].filter((e) => e.isLeader()).length, 1, 'one leader'), 5000);
  // Stays that way across renewals.
  await new Promise((r) => setTimeout(r, 600));
  assert.equal([a, b].filter((e) => e.isLeader()).length, 1, 'still one leader after renewals');
  const [leader, other] = a.isLeader() ? [a, b] : [b, a];
  await leader.stop();
  await eventually(() => assert.equal(other.isLeader(), true, 'the other replica took over'), 5000);
  assert.equal(leader.isLeader(), false);
});
