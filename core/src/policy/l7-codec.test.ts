import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldError } from '../fields/field-error.ts';
import { decodeL7Authorization, encodeL7Authorization } from './l7-codec.ts';
import { l7AuthorizationKey, type L7Authorization } from './l7-types.ts';

const full: L7Authorization = {
  name: 'public-read',
  namespace: 'demo',
  action: 'ALLOW',
  dryRun: true,
  targets: [
    { kind: 'Gateway', namespace: 'demo', name: 'waypoint' },
    { kind: 'Service', namespace: 'demo', hostname: 'api.demo.svc.cluster.local' },
  ],
  rules: [
    {
      from: [
        {
          principals: [{ exact: 'cluster.local/ns/demo/sa/client' }],
          notPrincipals: [{ suffix: '/sa/admin' }],
          namespaces: [{ prefix: 'team-' }],
          notNamespaces: [{ presence: true }],
          serviceAccounts: [{ namespace: 'demo', serviceAccount: 'client' }],
          notServiceAccounts: [{ namespace: 'demo', serviceAccount: 'other' }],
          ipBlocks: [{ address: '10.0.0.0', length: 8 }],
          notIpBlocks: [{ address: 'fd00::', length: 64 }],
          remoteIpBlocks: [{ address: '192.0.2.1', length: 32 }],
          notRemoteIpBlocks: [],
        },
      ],
      to: [
        {
          hosts: [{ suffix: '.demo.svc.cluster.local' }],
          notHosts: [{ exact: 'admin.demo.svc.cluster.local' }],
          ports: [80, 8080],
          notPorts: [9090],
          methods: [{ exact: 'GET' }],
          notMethods: [{ exact: 'DELETE' }],
          paths: [{ prefix: '/public/' }],
          notPaths: [{ suffix: '.secret' }],
        },
      ],
      when: [
        { key: 'request.headers', header: 'x-tenant', values: [{ exact: 't1' }], notValues: [] },
        { key: 'source.ip', values: [{ address: '10.1.0.0', length: 16 }], notValues: [] },
        { key: 'remote.ip', values: [], notValues: [{ address: '10.2.0.0', length: 16 }] },
        { key: 'source.namespace', values: [{ exact: 'demo' }], notValues: [] },
        { key: 'source.principal', values: [{ presence: true }], notValues: [] },
        { key: 'destination.port', values: [8080], notValues: [81] },
        { key: 'connection.sni', values: [], notValues: [{ exact: 'x.example' }] },
      ],
    },
    { from: [], to: [], when: [] },
  ],
};

test('round trip: every field survives encode and decode', () => {
  const back = decodeL7Authorization(l7AuthorizationKey(full), encodeL7Authorization(full));
  assert.deepEqual(back, full);
});

/** Decodes `full` with `mutate` applied to its JSON, expecting a FieldError naming `field`. */
function rejects(mutate: (json: Record<string, unknown>) => void, field: string, name = 'demo/public-read'): void {
  const json = JSON.parse(JSON.stringify(full)) as Record<string, unknown>;
  mutate(json);
  assert.throws(
    () => decodeL7Authorization(name, new TextEncoder().encode(JSON.stringify(json))),
    (err: unknown) => {
      assert.ok(err instanceof FieldError, String(err));
      assert.equal(err.code, 'MALFORMED_RESOURCE');
      assert.equal(err.field, field);
      assert.match(err.message, /L7Authorization "demo\/public-read"|L7Authorization "demo\/other"/);
      return true;
    },
  );
}

type Json = Record<string, unknown> & { rules: Array<Record<string, Array<Record<string, unknown>>>> };
const ruleOf = (j: Record<string, unknown>): Record<string, Array<Record<string, unknown>>> => {
  const r = (j as Json).rules[0];
  assert.ok(r);
  return r;
};

test('bad fields are refused with their path', () => {
  rejects((j) => (j['action'] = 'AUDIT'), 'action');
  rejects((j) => (j['dryRun'] = 'yes'), 'dryRun');
  rejects((j) => (j['targets'] = []), 'targets');
  rejects((j) => (j['targets'] = [{ kind: 'Pod', namespace: 'demo', name: 'x' }]), 'targets[0].kind');
  rejects((j) => (j['targets'] = [{ kind: 'Service', namespace: 'demo', hostname: 'API.demo' }]), 'targets[0].hostname');
  rejects((j) => (ruleOf(j)['from']![0]!['ipBlocks'] = [{ address: '10.0.0.300', length: 8 }]), 'rules[0].from[0].ipBlocks[0].address');
  rejects((j) => (ruleOf(j)['from']![0]!['ipBlocks'] = [{ address: '10.0.0.0', length: 33 }]), 'rules[0].from[0].ipBlocks[0].length');
  rejects((j) => (ruleOf(j)['from']![0]!['principals'] = [{ exact: 'a', prefix: 'b' }]), 'rules[0].from[0].principals[0]');
  rejects((j) => delete ruleOf(j)['from']![0]!['namespaces'], 'rules[0].from[0].namespaces');
  rejects((j) => (ruleOf(j)['to']![0]!['ports'] = [70000]), 'rules[0].to[0].ports[0]');
  rejects((j) => (ruleOf(j)['to']![0]!['hosts'] = [{ exact: 'API' }]), 'rules[0].to[0].hosts[0]');
  rejects((j) => (ruleOf(j)['when']![0]!['key'] = 'request.auth.claims'), 'rules[0].when[0].key');
  rejects((j) => (ruleOf(j)['when']![0]!['header'] = 'X-Tenant'), 'rules[0].when[0].header');
  rejects((j) => (ruleOf(j)['when']![0]!['values'] = []), 'rules[0].when[0]');
  rejects((j) => (ruleOf(j)['when']![5]!['values'] = ['8080']), 'rules[0].when[5].values[0]');
  rejects((j) => (j['name'] = 'other'), 'name');
});

test('a body that is not JSON is refused', () => {
  assert.throws(() => decodeL7Authorization('demo/x', new TextEncoder().encode('{')), /MALFORMED_RESOURCE|not UTF-8 JSON/);
});
