// Stand-ins for Gateway API's CRDs (standard-install.yaml of the release `ambitctl check` names), for a test cluster
// that lacks the kinds: the tests run sealed, with no way to download the real file, and no copy of it is vendored.
// Each declares what the real one does for the API (group, names, scope, served versions, status subresource); the
// schemas are left open, so the API accepts what the real CRDs would and more (these tests write no Gateway objects
// that the real schemas would refuse).
import assert from 'node:assert/strict';
import { stringify } from 'yaml';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

/** The CRDs as one multi-document YAML text, ready for `kubectl apply -f`. */
export function gatewayApiCrds(bundleVersion = 'v1.2.1'): string {
  const crd = (plural: string, kind: string, versions: readonly string[], scope: string): unknown => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GATEWAY_GROUP}`, annotations: { 'gateway.networking.k8s.io/bundle-version': bundleVersion } },
    spec: {
      group: GATEWAY_GROUP,
      names: { plural, kind, singular: kind.toLowerCase(), listKind: `${kind}List` },
      scope,
      versions: versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        subresources: { status: {} },
      })),
    },
  });
  return [
    crd('gatewayclasses', 'GatewayClass', ['v1'], 'Cluster'),
    crd('gateways', 'Gateway', ['v1'], 'Namespaced'),
    crd('httproutes', 'HTTPRoute', ['v1'], 'Namespaced'),
    crd('grpcroutes', 'GRPCRoute', ['v1'], 'Namespaced'),
    crd('referencegrants', 'ReferenceGrant', ['v1beta1'], 'Namespaced'),
  ]
    .map((c) => `---\n${stringify(c)}`)
    .join('');
}

/** `ambitctl check`'s verdict on a cluster without Gateway API: every missing kind named, then the fix. */
export function assertGatewayApiMissing(stdout: string): void {
  assert.ok(
    stdout.includes(
      `✖ Gateway API CRDs missing: gatewayclasses.${GATEWAY_GROUP} (GatewayClass v1), gateways.${GATEWAY_GROUP} (Gateway v1), ` +
        `httproutes.${GATEWAY_GROUP} (HTTPRoute v1), grpcroutes.${GATEWAY_GROUP} (GRPCRoute v1), ` +
        `referencegrants.${GATEWAY_GROUP} (ReferenceGrant v1beta1)`,
    ),
    stdout,
  );
  assert.ok(
    stdout.includes(
      '    fix: install Gateway API v1.2.1 (standard channel): kubectl apply -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/standard-install.yaml',
    ),
    stdout,
  );
}
