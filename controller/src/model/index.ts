/** The controller's model: Kubernetes objects → Workloads, Services and Authorizations (see model-builder.ts). */
export { ModelBuilder } from './model-builder.ts';
export type { ModelChange, ModelDelta, ModelError, ModelOptions, ModelSnapshot, NodePod, PolicyStatusUpdate } from './model-types.ts';
export type { PolicyStatus } from './policy-status.ts';
export { KubeObjectError } from '@ambit/core';
export { parsePod, parseService, parseNamespace, parseGateway } from './kube-objects.ts';
export type { PodView, ServiceView, NamespaceView, GatewayView, ObjectMeta } from './kube-objects.ts';
export { parseAuthorizationPolicy, parsePeerAuthentication } from './security-objects.ts';
export type { AuthorizationPolicyView, PeerAuthenticationView } from './security-objects.ts';
export { convertAuthorizationPolicy } from './authorization-policy.ts';
export {
  convertPeerAuthentication,
  convertedPeerAuthenticationName,
  STATIC_STRICT_POLICY_NAME,
  staticStrictAuthorization,
} from './peer-authentication.ts';
export { buildWorkload, workloadUid, tunnelProtocolOf } from './workload.ts';
export { buildService, portsForPod, serviceHostname } from './service.ts';
export { appProtocolOf } from './app-protocol.ts';
export { resolveWaypoint } from './waypoint.ts';
