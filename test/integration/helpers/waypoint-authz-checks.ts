import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { eventually } from '@ambit/core/testing';
import { ambitctl } from './ambitctl.ts';
import { jsonLinesWith } from './waypoint.ts';
import { awaitCondition, type PolicyContext } from './waypoint-policy.ts';

/**
 * Issue 14 §1 acceptance: AuthorizationPolicies with targetRefs (live/authz.yaml) enforced per request by the waypoint
 * for Service `api`, curl in the `client` and `other` pods; the access log, the 403 count, `ambitctl policy explain`
 * for each case, and an update with a bad CIDR (status names the field, the last good version stays).
 */
export async function authzChecks(t: TestContext, c: PolicyContext): Promise<void> {
  const { k, ns: NS } = c;
  const tag = randomBytes(4).toString('hex');
  type Answer = { status: number; body: string };
  const call = async (pod: string, method: string, path: string, headers: readonly string[] = []): Promise<Answer> => {
    const r = await k.exec(NS, pod, [
      'curl',
      '-sS',
      '--max-time',
      '10',
      '-X',
      method,
      ...headers.flatMap((h) => ['-H', h]),
      '-w',
      '\n%{http_code}',
      `http://api${path}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const nl = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
  };
  const denied = (a: Answer, what: string): void => {
    assert.equal(a.status, 403, `${what}: ${JSON.stringify(a)}`);
    assert.equal(a.body, 'RBAC: access denied', what);
  };
  const counts = await c.countsSince('api');
  try {
    await c.apply('authz.yaml');
    for (const name of ['api-allow', 'api-deny-tenant', 'waypoint-dry-deny']) {
      const c = await awaitCondition(k, NS, `authorizationpolicy ${name}`, 'WaypointAccepted', 'True');
      assert.match(c.message ?? '', /waypoint/, `${name}: the status says which waypoint enforces it: ${JSON.stringify(c)}`);
    }
    // In force at the waypoint once a POST is refused (before the policies it was answered).
    await eventually(async () => denied(await call('client', 'POST', `/public/x-${tag}`), 'POST /public/x from sa/client'), 10_000);
    assert.equal((await call('client', 'GET', `/public/a-${tag}`)).status, 200, 'GET /public/a from sa/client');
    denied(await call('client', 'GET', `/private-${tag}`), 'GET /private from sa/client');
    denied(await call('other', 'GET', `/public/a-${tag}-other`), 'GET /public/a from sa/other');
    denied(await call('client', 'GET', `/public/a-${tag}-tenant`, ['x-tenant: blocked']), 'x-tenant: blocked');
    assert.equal((await call('client', 'GET', `/public/a-${tag}-ok`, ['x-tenant: fine'])).status, 200, 'x-tenant: fine');
    assert.equal((await call('client', 'GET', '/public/dry')).status, 200, 'a dry-run DENY does not block');

    // Counted with response_code 403, logged with the deciding policy (and the dry-run one that would have denied).
    await eventually(async () => assert.ok(((await counts())['403/-'] ?? 0) >= 4, JSON.stringify(await counts())));
    const logged = (needle: string): Promise<string> =>
      eventually(() => {
        const line = jsonLinesWith(k.podLog(NS, c.waypoint.name), needle)[0];
        assert.ok(line, `the waypoint logged ${needle}`);
        return JSON.stringify(line);
      });
    const tenantLine = await logged(`/public/a-${tag}-tenant`);
    assert.match(tenantLine, /"response_code":403/);
    assert.ok(tenantLine.includes(`${NS}/api-deny-tenant`), `the access line names the deciding policy: ${tenantLine}`);
    const dryLine = await logged('/public/dry');
    assert.match(dryLine, /"response_code":200/);
    assert.ok(dryLine.includes(`${NS}/waypoint-dry-deny`), `the access line names the dry-run policy: ${dryLine}`);

    // policy explain, with the waypoint's own evaluator, for each case.
    // `-o json`: the waypoint's L7 decision under `waypoint` (the L4 one of the endpoint's ztunnel beside it).
    type Decision = { allow: boolean; policy?: string; rule?: number; dryRun?: { allow: boolean; policy?: string } };
    type Explained = { gateway: string; decision: Decision; policies: unknown[] };
    const explain = async (from: string, method: string, path: string, header?: string): Promise<Explained> => {
      const args = ['policy', 'explain', '--from', `${NS}/${from}`, '--to', `${NS}/svc/api:80`, '--method', method, '--path', path];
      const r = await ambitctl(c.cluster, [...args, ...(header === undefined ? [] : ['--header', header]), '-o', 'json']);
      assert.equal(r.code, 0, `ambitctl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      const e = (JSON.parse(r.stdout) as { waypoint?: Explained }).waypoint;
      assert.ok(e !== undefined, `explain names the waypoint's decision: ${r.stdout}`);
      assert.equal(e.gateway, `${NS}/waypoint`);
      return e;
    };
    const allowed = await explain('client', 'GET', '/public/a');
    assert.deepEqual([allowed.decision.allow, allowed.decision.policy, allowed.decision.rule], [true, `${NS}/api-allow`, 0]);
    for (const [from, method, path] of [
      ['client', 'POST', '/public/x'],
      ['client', 'GET', '/private'],
      ['other', 'GET', '/public/a'],
    ] as const) {
      const e = await explain(from, method, path);
      assert.equal(e.decision.allow, false, `${from} ${method} ${path}: ${JSON.stringify(e)}`);
      assert.ok(JSON.stringify(e).includes(`${NS}/api-allow`), `explain says why api-allow did not match: ${JSON.stringify(e)}`);
    }
    const tenant = await explain('client', 'GET', '/public/a', 'x-tenant=blocked');
    assert.deepEqual([tenant.decision.allow, tenant.decision.policy, tenant.decision.rule], [false, `${NS}/api-deny-tenant`, 0]);
    const dry = await explain('client', 'GET', '/public/dry');
    assert.equal(dry.decision.allow, true);
    assert.deepEqual(dry.decision.dryRun, { allow: false, policy: `${NS}/waypoint-dry-deny` });
    const text = await ambitctl(c.cluster, [
      'policy',
      'explain',
      '--from',
      `${NS}/client`,
      '--to',
      `${NS}/svc/api:80`,
      '--method',
      'GET',
      '--path',
      '/public/a',
    ]);
    t.diagnostic(`policy explain GET /public/a:\n${text.stdout}`);
    assert.match(text.stdout, /ALLOW/);
    assert.match(text.stdout, new RegExp(`${NS}/api-allow.*rules\\[0\\]`));

    // Bad field: an update with an invalid CIDR is refused by status; the last good version stays in force.
    await c.apply('authz-bad-cidr.yaml');
    // Contract 5: False, or True with a message when only the bad part is left out; either way the field is named.
    const bad = await awaitCondition(k, NS, 'authorizationpolicy api-allow', 'WaypointAccepted', 'True or False', {
      message: /spec\.rules\[1\]\.from\[0\]\.source\.ipBlocks\[0\]/,
    });
    t.diagnostic(`bad CIDR: ${JSON.stringify(bad)}`);
    denied(await call('client', 'GET', `/private-${tag}-after`), 'GET /private after the bad update');
    assert.equal((await call('client', 'GET', `/public/a-${tag}-after`)).status, 200, 'GET /public/a after the bad update');
  } finally {
    await c.remove('authz.yaml');
  }
}
