import { watchedKind as kind, type WatchedKind } from '@ambit/core/kube';
import { MANAGED_LABEL, MANAGED_VALUE } from '../waypoint/waypoint-gateway.ts';

/** Everything the model is computed from (DESIGN §6). */
export const WATCHED_KINDS: readonly WatchedKind[] = [
  kind('v1', 'Namespace', 'namespaces'),
  kind('v1', 'Pod', 'pods'),
  kind('v1', 'Service', 'services'),
  kind('v1', 'ServiceAccount', 'serviceaccounts'),
  kind('v1', 'Node', 'nodes'),
  kind('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices'),
  kind('security.istio.io/v1', 'AuthorizationPolicy', 'authorizationpolicies'),
  kind('security.istio.io/v1', 'PeerAuthentication', 'peerauthentications'),
  kind('gateway.networking.k8s.io/v1', 'Gateway', 'gateways'),
  kind('gateway.networking.k8s.io/v1', 'HTTPRoute', 'httproutes'),
  kind('gateway.networking.k8s.io/v1', 'GRPCRoute', 'grpcroutes'),
  kind('gateway.networking.k8s.io/v1beta1', 'ReferenceGrant', 'referencegrants'),
  // Traffic policy for waypoints (issue 14). A kind whose CRD is not installed is simply empty until it is (the
  // informer treats the API server's 404 as "none", and keeps asking).
  kind('networking.istio.io/v1', 'DestinationRule', 'destinationrules'),
  kind('ambit.dev/v1alpha1', 'LocalRateLimit', 'localratelimits'),
  kind('ambit.dev/v1alpha1', 'HTTPFault', 'httpfaults'),
  // The waypoint deployer's (issue 13): the class it keeps, and the Deployments it made, by its label (the Services
  // and ServiceAccounts it made are among those watched above).
  kind('gateway.networking.k8s.io/v1', 'GatewayClass', 'gatewayclasses'),
  kind('apps/v1', 'Deployment', 'deployments', undefined, `${MANAGED_LABEL}=${MANAGED_VALUE}`),
  // Only our own root-cert ConfigMaps, to put them back when someone edits or deletes them.
  kind('v1', 'ConfigMap', 'configmaps', 'metadata.name=ambit-ca-root-cert'),
];
