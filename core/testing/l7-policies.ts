/**
 * Builders of L7 authorization policies (core/src/policy/l7-types.ts) for the tests of the evaluator, the waypoint,
 * the controller's conversion and `ambitctl policy explain`: the model has no optional fields, so a test names only
 * what its case is about and these fill in the rest as "matches anything". Imported as `@ambit/core/testing/l7-policies`.
 */
import type { L7Authorization, L7Operation, L7Rule, L7Source } from '../src/policy/l7-types.ts';

/** A source with no field set: matches every caller. */
export const noSource: L7Source = {
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

/** An operation with no field set: matches every request. */
export const noOperation: L7Operation = {
  hosts: [],
  notHosts: [],
  ports: [],
  notPorts: [],
  methods: [],
  notMethods: [],
  paths: [],
  notPaths: [],
};

export const l7Source = (fields: Partial<L7Source>): L7Source => ({ ...noSource, ...fields });
export const l7Operation = (fields: Partial<L7Operation>): L7Operation => ({ ...noOperation, ...fields });
/** A rule; with no argument the empty rule, which matches every request. */
export const l7Rule = (fields: Partial<L7Rule> = {}): L7Rule => ({ from: [], to: [], when: [], ...fields });

/** An enforced (not dry-run) policy `namespace/name` targeting that namespace's waypoint Gateway `waypoint`; `extra` overrides any field. */
export function l7Policy(
  namespace: string,
  name: string,
  action: 'ALLOW' | 'DENY',
  rules: readonly L7Rule[],
  extra: Partial<L7Authorization> = {},
): L7Authorization {
  return { name, namespace, action, dryRun: false, targets: [{ kind: 'Gateway', namespace, name: 'waypoint' }], rules, ...extra };
}
