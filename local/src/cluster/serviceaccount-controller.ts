import type { Logger } from '@ambit/core';
import { runController, type Controller } from './controller.ts';
import type { StoreView } from './store-view.ts';

/** Gives every namespace its `default` ServiceAccount, as kube-controller-manager does; pods default to it. */
export function startServiceAccountController(view: StoreView, log: Logger): Controller {
  return runController(view, log, {
    name: 'serviceaccount',
    reconcile: (ns) => {
      const namespace = view.find('Namespace', undefined, ns);
      if (namespace === undefined || namespace.metadata.deletionTimestamp !== undefined) return;
      if (view.find('ServiceAccount', ns, 'default') === undefined) {
        view.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } });
      }
    },
    initialKeys: () => view.list('Namespace').map((n) => n.metadata.name ?? ''),
    route: (e, add) => {
      if (e.object.kind === 'Namespace') add(e.object.metadata.name ?? '');
      if (e.object.kind === 'ServiceAccount' && e.type === 'DELETED') add(e.object.metadata.namespace ?? '');
    },
  });
}
