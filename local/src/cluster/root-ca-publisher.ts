import type { Logger } from '@ambit/core';
import { asRecord } from '@ambit/core';
import { runController, type Controller } from './controller.ts';
import type { StoreView } from './store-view.ts';

export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';

/** kube-controller-manager's description annotation on the ConfigMap, word for word. */
const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the ' +
  'internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

/**
 * kube-controller-manager's root-ca-cert-publisher: ConfigMap `kube-root-ca.crt` with the API's CA as `ca.crt` in
 * every namespace, recreated when deleted and reset when edited. The kubelet projects it into
 * /var/run/secrets/kubernetes.io/serviceaccount/ca.crt (serviceaccount-admission.ts).
 */
export function startRootCaPublisher(view: StoreView, caCertPem: string, log: Logger): Controller {
  return runController(view, log, {
    name: 'root-ca-cert-publisher',
    reconcile: (ns) => {
      const namespace = view.find('Namespace', undefined, ns);
      if (namespace === undefined || namespace.metadata.deletionTimestamp !== undefined) return;
      const cm = view.find('ConfigMap', ns, ROOT_CA_CONFIGMAP);
      const data = { 'ca.crt': caCertPem };
      if (cm === undefined) {
        view.create({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: ROOT_CA_CONFIGMAP, namespace: ns, annotations: { 'kubernetes.io/description': DESCRIPTION } },
          data,
        });
      } else if (asRecord(cm['data'])['ca.crt'] !== caCertPem || Object.keys(asRecord(cm['data'])).length !== 1) {
        view.update({ ...cm, data });
      }
    },
    initialKeys: () => view.list('Namespace').map((n) => n.metadata.name ?? ''),
    route: (e, add) => {
      if (e.object.kind === 'Namespace') add(e.object.metadata.name ?? '');
      if (e.object.kind === 'ConfigMap' && e.object.metadata.name === ROOT_CA_CONFIGMAP) add(e.object.metadata.namespace ?? '');
    },
  });
}
