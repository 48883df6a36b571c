// L4 authorization with Istio's semantics, shared by ztunnel (enforcement) and ambitctl (explain).
export {
  authorize,
  cidrMatches,
  failingField,
  isEmptyMatch,
  matchApplies,
  matchingRule,
  policyKey,
  ruleMatches,
  sourceFacts,
  stringMatches,
  type AuthzDecision,
  type ConnectionFacts,
  type MatchField,
  type SourceFacts,
} from './authorize.ts';
export { explain, type Explanation, type PolicyExplanation } from './explain.ts';
export { compilePolicies, type PolicySet } from './policy-set.ts';
export { createSourceFactsCache, type SourceFactsCache } from './source-cache.ts';
export { policiesInScope } from './scope.ts';
export * from './l7-types.ts';
// L7 authorization (waypoints), shared by the waypoint (enforcement) and ambitctl (explain).
export {
  authorizeRequest,
  explainRequest,
  l7RequestFacts,
  l7RequestPath,
  normalizeRequestTarget,
  type L7Decision,
  type L7PolicyExplanation,
} from './l7-authorize.ts';
export { decodeL7Authorization, encodeL7Authorization } from './l7-codec.ts';
