import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KUBECTL_SKIP, startKubectlFixture, type KubectlFixture } from '../../testing/kubectl.ts';
import { ObjectStore } from '../store/object-store.ts';
import { OpenApi } from './openapi.ts';

/** OpenAPI v3 of built-in kinds (from the schema packages) and what kubectl does with it: validate, explain, apply. */

const store = new ObjectStore();
let k: KubectlFixture;

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: busybox}]
`;

void describe('OpenAPI v3 of built-in kinds', () => {
  void it('lists core, apps, Istio and Gateway API group/versions with hashes, and describes Deployment', () => {
    const api = new OpenApi(store);
    const paths = api.root()['paths'] as Record<string, { serverRelativeURL: string }>;
    for (const gv of ['api/v1', 'apis/apps/v1', 'apis/networking.istio.io/v1', 'apis/gateway.networking.k8s.io/v1']) {
      assert.match(paths[gv]?.serverRelativeURL ?? '', new RegExp(`^/openapi/v3/${gv}\\?hash=[0-9A-F]{64}$`));
    }
    const doc = api.document('apps', 'v1') as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, Record<string, unknown>> };
    };
    const patch = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}']?.['patch'] as Record<string, unknown>;
    assert.deepEqual(patch['x-kubernetes-group-version-kind'], { group: 'apps', version: 'v1', kind: 'Deployment' });
    assert.ok((patch['parameters'] as Array<{ name: string }>).some((p) => p.name === 'fieldValidation'));
    const spec = doc.components.schemas['kubernetes-models.apps.v1.DeploymentSpec'];
    assert.deepEqual(spec?.['required'], ['selector', 'template']);
    assert.match(String(spec?.['description']), /desired behavior of the Deployment/);
  });
});

void describe('kubectl with OpenAPI of built-in kinds', { skip: KUBECTL_SKIP }, () => {
  before(async () => {
    k = await startKubectlFixture(store);
    writeFileSync(join(k.dir, 'deploy.yaml'), DEPLOYMENT);
  });
  after(() => k.close());

  void it('explain pod.spec and explain deployment.spec.replicas', async () => {
    const pod = await k.kubectlOk('explain', 'pod.spec');
    assert.match(pod, /^KIND:\s+Pod$/m);
    assert.match(pod, /^FIELD:\s+spec <PodSpec>$/m);
    assert.match(pod, /^\s+containers\s+<\[\]Container> -required-$/m);
    const replicas = await k.kubectlOk('explain', 'deployment.spec.replicas');
    assert.match(replicas, /^GROUP:\s+apps$/m);
    assert.match(replicas, /Number of desired pods/);
    const ap = await k.kubectlOk('explain', 'authorizationpolicy.spec.action');
    assert.match(ap, /ALLOW/);
    const route = await k.kubectlOk('explain', 'httproute.spec.rules');
    assert.match(route, /backendRefs/);
  });

  void it('explain --output plaintext-openapiv2 reads the protobuf /openapi/v2', async () => {
    const out = await k.kubectlOk('explain', 'deployment.spec.replicas', '--output', 'plaintext-openapiv2');
    assert.match(out, /^KIND:\s+Deployment$/m);
    assert.match(out, /^FIELD:\s+replicas <number>$/m);
    assert.match(out, /Number of desired pods/);
    const pod = await k.kubectlOk('explain', 'pod.spec.containers', '--output', 'plaintext-openapiv2');
    assert.match(pod, /^RESOURCE:\s+containers <\[\]Object>$/m);
    assert.match(pod, /^\s+image\s+<string>$/m);
    const json = JSON.parse(await k.kubectlOk('get', '--raw', '/openapi/v2')) as { swagger: string; definitions: Record<string, unknown> };
    assert.equal(json.swagger, '2.0');
    assert.ok('kubernetes-models.v1.PodSpec' in json.definitions);
  });

  void it('apply -f of a Deployment without --validate=false, twice', async () => {
    assert.match(await k.kubectlOk('apply', '-f', join(k.dir, 'deploy.yaml')), /deployment.apps\/web created/);
    assert.match(await k.kubectlOk('apply', '-f', join(k.dir, 'deploy.yaml')), /deployment.apps\/web unchanged/);
    // A changed image is a strategic merge patch with the containers list (merged by name on the server).
    writeFileSync(join(k.dir, 'deploy.yaml'), DEPLOYMENT.replace('image: busybox', 'image: busybox:2'));
    assert.match(await k.kubectlOk('apply', '-f', join(k.dir, 'deploy.yaml')), /deployment.apps\/web configured/);
    const deploy = store.get(store.typeOf({ apiVersion: 'apps/v1', kind: 'Deployment' }), 'default', 'web');
    const tmpl = (deploy['spec'] as { template: { spec: { containers: Array<{ image: string }> } } }).template;
    assert.equal(tmpl.spec.containers[0]?.image, 'busybox:2');
  });
});
