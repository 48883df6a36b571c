import type { Logger, Workload } from '@ambit/core';
import type { AuthzDecision, ConnectionFacts } from '@ambit/core/policy';
import type { MeshState } from '../state/mesh-state.ts';

/**
 * The destination's L4 decision for one connection (reference §6), with the logging ztunnel does: a denial names the
 * policy that decided, and a dry-run policy that would have decided otherwise is logged without being enforced.
 */
export function authorizeInbound(state: MeshState, workload: Workload, facts: ConnectionFacts, log: Logger): AuthzDecision {
  const decision = state.policySetFor(workload).decide(facts);
  if (decision.allow && decision.dryRun === undefined) return decision;
  // Only denials and dry-run disagreements are logged: the common path builds nothing.
  const fields = {
    src: facts.sourceIp,
    srcIdentity: facts.sourceIdentity,
    dst: `${facts.destinationIp}:${facts.destinationPort}`,
    workload: `${workload.namespace}/${workload.name}`,
  };
  if (decision.dryRun !== undefined) {
    log.info(
      { ...fields, dryRunPolicy: decision.dryRun.policy, enforced: decision.allow ? 'allow' : 'deny' },
      `dry-run: policies would ${decision.dryRun.allow ? 'allow' : 'deny'} this connection`,
    );
  }
  if (!decision.allow) log.info({ ...fields, policy: decision.policy }, `connection denied: ${decision.reason}`);
  return decision;
}
