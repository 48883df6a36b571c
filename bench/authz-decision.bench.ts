// Cost of one L4 authorization decision with 10 000 policies in scope for the destination (issue 5 goal: p99 < 50 µs),
// through the indexed PolicySet ztunnel uses, against authorize() over the plain list in the same run (the baseline).
// Policy mix: 9 000 ALLOW by exact principal, 900 ALLOW by namespace, 60 DENY by port, 40 ALLOW by ipBlock; sources
// drawn at random (known principals, unknown ones, plaintext). Not a test: `npm run bench`.
import { cpus } from 'node:os';
import { emptyMatch, type Authorization, type Match } from '@ambit/core';
import { authorize, compilePolicies, createSourceFactsCache, type ConnectionFacts } from '@ambit/core/policy';

const N = 10_000;
const DECISIONS = 200_000;
const BASELINE_DECISIONS = 2_000;

function policy(i: number, action: 'ALLOW' | 'DENY', fields: Partial<Match>): Authorization {
  return {
    name: `p${i}`,
    namespace: 'shop',
    scope: 'NAMESPACE',
    action,
    rules: [{ clauses: [{ matches: [{ ...emptyMatch(), ...fields }] }] }],
    dryRun: false,
  };
}

const policies: Authorization[] = [];
for (let i = 0; i < 9000; i++) policies.push(policy(i, 'ALLOW', { principals: [{ exact: `cluster.local/ns/ns${i % 300}/sa/sa${i}` }] }));
for (let i = 0; i < 900; i++) policies.push(policy(9000 + i, 'ALLOW', { namespaces: [{ exact: `team${i}` }] }));
for (let i = 0; i < 60; i++) policies.push(policy(9900 + i, 'DENY', { destinationPorts: [20000 + i] }));
for (let i = 0; i < 40; i++) policies.push(policy(9960 + i, 'ALLOW', { sourceIps: [{ address: `10.${i}.0.0`, length: 16 }] }));

let seed = 42;
const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
function connection(): ConnectionFacts {
  const r = random();
  const i = Math.floor(random() * 9000);
  const sourceIdentity =
    r < 0.6
      ? `spiffe://cluster.local/ns/ns${i % 300}/sa/sa${i}`
      : r < 0.8
        ? `spiffe://cluster.local/ns/team${i % 900}/sa/x`
        : r < 0.9
          ? 'spiffe://cluster.local/ns/nobody/sa/x'
          : undefined;
  return {
    sourceIdentity,
    sourceIp: `10.${Math.floor(random() * 60)}.1.2`,
    destinationIp: '10.244.2.7',
    destinationPort: random() < 0.05 ? 20001 : 8080,
  };
}

function percentiles(ns: number[]): { p50: number; p99: number; max: number } {
  ns.sort((a, b) => a - b);
  const at = (p: number): number => (ns[Math.min(ns.length - 1, Math.floor(p * ns.length))] ?? 0) / 1000;
  return { p50: at(0.5), p99: at(0.99), max: (ns[ns.length - 1] ?? 0) / 1000 };
}

const conns = Array.from({ length: DECISIONS }, connection);
const compileStart = process.hrtime.bigint();
const set = compilePolicies(policies, createSourceFactsCache());
const compileMs = Number(process.hrtime.bigint() - compileStart) / 1e6;
let allowed = 0;
for (let i = 0; i < 20_000; i++) set.decide(conns[i] as ConnectionFacts); // warm-up (JIT)
const indexed: number[] = [];
for (const c of conns) {
  const t0 = process.hrtime.bigint();
  if (set.decide(c).allow) allowed += 1;
  indexed.push(Number(process.hrtime.bigint() - t0));
}
const baseline: number[] = [];
for (const c of conns.slice(0, BASELINE_DECISIONS)) {
  const t0 = process.hrtime.bigint();
  authorize(policies, c);
  baseline.push(Number(process.hrtime.bigint() - t0));
}
const a = percentiles(indexed);
const b = percentiles(baseline);
console.log(
  `node ${process.version}, ${cpus().length} cpus; ${N} policies in scope; compile ${compileMs.toFixed(1)} ms; ${((allowed / DECISIONS) * 100).toFixed(0)} % allowed`,
);
console.log(
  `indexed PolicySet:        p50 ${a.p50.toFixed(2)} µs  p99 ${a.p99.toFixed(2)} µs  max ${a.max.toFixed(0)} µs  (n=${DECISIONS})`,
);
console.log(`baseline authorize(list): p50 ${b.p50.toFixed(2)} µs  p99 ${b.p99.toFixed(2)} µs  (n=${BASELINE_DECISIONS})`);
console.log(`p99 ${(b.p99 / a.p99).toFixed(0)}× lower than the baseline; goal p99 < 50 µs: ${a.p99 < 50 ? 'met' : 'MISSED'}`);
