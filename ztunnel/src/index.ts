// The per-node L4 proxy, for embedding (tests) and for main.ts.
export { startZtunnel, type Ztunnel, type ZtunnelOptions } from './ztunnel.ts';
export { createMeshState, workloadIdentity, type Destination, type MeshState } from './state/mesh-state.ts';
export { authorize, type AuthzDecision, type ConnectionFacts } from '@ambit/core/policy';
