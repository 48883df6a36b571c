// Cost of one L7 authorization decision in the waypoint (issue 14), per request, with 10, 100 and 1 000 policies
// targeting the Service: authorizeRequest() over the policies (what the waypoint runs), against the L4 decision
// ztunnel makes per connection over as many policies of the same principals (authorize() over the list) in the same
// run, as the baseline. Policy mix: ALLOW from one principal for GET on a path prefix, one DENY on a header value;
// requests drawn at random (allowed, wrong method, wrong path, unknown caller, denied header). Not a test:
// `npm run bench -- l7-authz-decision`.
import { cpus } from 'node:os';
import { emptyMatch, type Authorization } from '@ambit/core';
import { authorize, authorizeRequest, l7RequestFacts, type L7Authorization, type L7RequestFacts } from '@ambit/core/policy';

const DECISIONS = 100_000;
const SIZES = [10, 100, 1000];
const TARGET = { kind: 'Service', namespace: 'shop', hostname: 'cart.shop.svc.cluster.local' } as const;
const noSource = {
  principals: [],
  notPrincipals: [],
  namespaces: [],
  notNamespaces: [],
  serviceAccounts: [],
  notServiceAccounts: [],
  ipBlocks: [],
  notIpBlocks: [],
  remoteIpBlocks: [],
  notRemoteIpBlocks: [],
};
const noOperation = { hosts: [], notHosts: [], ports: [], notPorts: [], methods: [], notMethods: [], paths: [], notPaths: [] };

function l7Policies(n: number): L7Authorization[] {
  const out: L7Authorization[] = [];
  for (let i = 0; i < n - 1; i++) {
    out.push({
      name: `p${i}`,
      namespace: 'shop',
      action: 'ALLOW',
      dryRun: false,
      targets: [TARGET],
      rules: [
        {
          from: [{ ...noSource, principals: [{ exact: `cluster.local/ns/ns${i}/sa/sa${i}` }] }],
          to: [{ ...noOperation, methods: [{ exact: 'GET' }], paths: [{ prefix: `/api/v${i % 3}/` }] }],
          when: [],
        },
      ],
    });
  }
  out.push({
    name: 'deny-blocked',
    namespace: 'shop',
    action: 'DENY',
    dryRun: false,
    targets: [TARGET],
    rules: [{ from: [], to: [], when: [{ key: 'request.headers', header: 'x-tenant', values: [{ exact: 'blocked' }], notValues: [] }] }],
  });
  return out;
}

function l4Policies(n: number): Authorization[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `p${i}`,
    namespace: 'shop',
    scope: 'NAMESPACE' as const,
    action: 'ALLOW' as const,
    rules: [{ clauses: [{ matches: [{ ...emptyMatch(), principals: [{ exact: `cluster.local/ns/ns${i}/sa/sa${i}` }] }] }] }],
    dryRun: false,
  }));
}

let seed = 42;
const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

function request(n: number): L7RequestFacts {
  const i = Math.floor(random() * (n - 1));
  const r = random();
  return l7RequestFacts({
    sourceIdentity: r < 0.9 ? `spiffe://cluster.local/ns/ns${i}/sa/sa${i}` : 'spiffe://cluster.local/ns/other/sa/x',
    sourceIp: '10.244.1.7',
    remoteIp: '10.244.1.7',
    host: 'cart.shop.svc.cluster.local',
    destinationPort: 80,
    method: r < 0.8 ? 'GET' : 'POST',
    path: r < 0.7 ? `/api/v${i % 3}/items` : '/admin',
    sni: undefined,
    headers: r > 0.95 ? { 'x-tenant': 'blocked' } : {},
  });
}

function percentiles(ns: number[]): { p50: number; p99: number } {
  ns.sort((a, b) => a - b);
  const at = (p: number): number => (ns[Math.min(ns.length - 1, Math.floor(p * ns.length))] ?? 0) / 1000;
  return { p50: at(0.5), p99: at(0.99) };
}

function time(run: () => void): number {
  const t0 = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - t0);
}

console.log(`node ${process.version}, ${cpus().length} cpus; ${DECISIONS} decisions per size`);
for (const n of SIZES) {
  const l7 = l7Policies(n);
  const l4 = l4Policies(n);
  const reqs = Array.from({ length: DECISIONS }, () => request(n));
  const conns = reqs.map((r) => ({
    sourceIdentity: r.sourceIdentity,
    sourceIp: r.sourceIp,
    destinationIp: '10.244.2.7',
    destinationPort: 80,
  }));
  let allowed = 0;
  for (let i = 0; i < 10_000; i++) authorizeRequest(l7, reqs[i] as L7RequestFacts); // warm-up (JIT, compiled policies)
  for (let i = 0; i < 10_000; i++) authorize(l4, conns[i] as (typeof conns)[number]);
  const l7Ns = reqs.map((r) => time(() => (allowed += authorizeRequest(l7, r).allow ? 1 : 0)));
  const l4Ns = conns.map((c) => time(() => authorize(l4, c)));
  const a = percentiles(l7Ns);
  const b = percentiles(l4Ns);
  console.log(
    `${String(n).padStart(5)} policies: L7 authorizeRequest p50 ${a.p50.toFixed(2)} µs p99 ${a.p99.toFixed(2)} µs (${((allowed / DECISIONS) * 100).toFixed(0)} % allowed); ` +
      `L4 authorize() baseline p50 ${b.p50.toFixed(2)} µs p99 ${b.p99.toFixed(2)} µs; ratio p50 ${(a.p50 / b.p50).toFixed(1)}×`,
  );
}
