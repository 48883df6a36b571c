import type { Authorization, Workload } from '../model/types.ts';

/**
 * The authorizations that apply to connections to `workload` (ztunnel `src/state.rs` policy selection): the root
 * namespace's GLOBAL ones (mesh-wide), the NAMESPACE ones of the workload's namespace, and the WORKLOAD_SELECTOR ones
 * the controller listed on the workload.
 */
export function policiesInScope(
  workload: Pick<Workload, 'namespace' | 'authorizationPolicies'>,
  all: Iterable<Authorization>,
  byKey: (key: string) => Authorization | undefined,
  rootNamespace: string,
): Authorization[] {
  const out: Authorization[] = [];
  for (const a of all) {
    if (a.scope === 'GLOBAL' && a.namespace === rootNamespace) out.push(a);
    else if (a.scope === 'NAMESPACE' && a.namespace === workload.namespace) out.push(a);
  }
  for (const key of workload.authorizationPolicies) {
    const a = byKey(key);
    if (a !== undefined && a.scope === 'WORKLOAD_SELECTOR') out.push(a);
  }
  return out;
}
