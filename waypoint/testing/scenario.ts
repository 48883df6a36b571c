// A ready-made mesh for the data-path tests: Service `svc` (VIP 10.96.0.10:80) backed by pods v1 (127.0.0.2) and v2
// (127.0.0.3); Services `svc-v1` (10.96.0.11) and `svc-v2` (10.96.0.12) backed by one pod each; all HTTP/1.1 unless a
// test changes the model. Clients reach a VIP through the waypoint like a source ztunnel would.
import type { Socket } from 'node:net';
import { Client } from 'undici';
import type { AppProtocol } from '@ambit/core';
import type { RouteBackend, RouteFilter, RouteMatch, RouteRule, RouteSet } from '@ambit/core/routes';
import { makeService, makeWorkload, NS, startBackend, startWaypointFixture, type Backend, type WaypointFixture } from './fixture.ts';
import type { WaypointListenerTuning } from '../src/proxy/listener.ts';

export const VIP = { svc: '10.96.0.10', v1: '10.96.0.11', v2: '10.96.0.12' } as const;
export const host = (name: string): string => `${name}.${NS}.svc.cluster.local`;

export interface Scenario {
  readonly fx: WaypointFixture;
  readonly v1: Backend;
  readonly v2: Backend;
  /** An HTTP/1.1 client whose connections are tunnels to `authority` (default the `svc` VIP:80). */
  client(authority?: string): Client;
  /** Sets the model's protocol of port 80 on every Service. */
  setProtocol(p: AppProtocol): void;
  close(): Promise<void>;
}

export async function startScenario(tuning: WaypointListenerTuning = {}): Promise<Scenario> {
  const fx = await startWaypointFixture(tuning);
  const v1 = await startBackend('v1', '127.0.0.2');
  const v2 = await startBackend('v2', '127.0.0.3');
  await fx.addPod('127.0.0.2', 'v1');
  await fx.addPod('127.0.0.3', 'v2');
  const clients: Client[] = [];
  const setProtocol = (p: AppProtocol): void => {
    const m1 = [{ servicePort: 80, targetPort: v1.port, appProtocol: p }];
    const m2 = [{ servicePort: 80, targetPort: v2.port, appProtocol: p }];
    fx.state.services = [makeService('svc', VIP.svc, m1), makeService('svc-v1', VIP.v1, m1), makeService('svc-v2', VIP.v2, m2)];
    fx.state.workloads = [
      makeWorkload('v1', '127.0.0.2', { [`${NS}/${host('svc')}`]: m1, [`${NS}/${host('svc-v1')}`]: m1 }),
      makeWorkload('v2', '127.0.0.3', { [`${NS}/${host('svc')}`]: m2, [`${NS}/${host('svc-v2')}`]: m2 }),
    ];
    fx.state.bump();
  };
  setProtocol('HTTP11');
  return {
    fx,
    v1,
    v2,
    client(authority = `${VIP.svc}:80`) {
      const c = new Client(`http://${authority}`, {
        connect: (_o, cb) => {
          fx.open(authority).then(
            (s) => cb(null, s as unknown as Socket),
            (err: unknown) => cb(err as Error, null),
          );
        },
      });
      clients.push(c);
      return c;
    },
    setProtocol,
    async close() {
      await Promise.all(clients.map((c) => c.destroy()));
      await fx.close();
      await Promise.all([v1.close(), v2.close()]);
    },
  };
}

export const anyMatch: RouteMatch = { headers: [], queryParams: [] };

export function backend(name: string, weight = 1, filters: readonly RouteFilter[] = []): RouteBackend {
  return { weight, service: { namespace: NS, hostname: host(name), port: 80 }, filters };
}

/** A route set for `svc` from rules, each with its matches (in the given, already-precedence, order). */
export function routeSet(rules: ReadonlyArray<{ matches?: readonly RouteMatch[]; rule: Partial<RouteRule> }>): RouteSet {
  const built: RouteRule[] = rules.map((r, i) => ({
    route: `${NS}/r`,
    kind: 'HTTPRoute',
    ruleIndex: i,
    filters: [],
    backends: [],
    ...r.rule,
  }));
  const entries = rules.flatMap((r, i) => (r.matches ?? [anyMatch]).map((match) => ({ match, rule: i })));
  return { parent: { kind: 'Service', namespace: NS, hostname: host('svc') }, rules: built, entries };
}
