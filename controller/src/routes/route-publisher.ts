import type { Logger } from '@ambit/core';
import { encodeRouteSet, ROUTE_SET_TYPE_URL, routeSetKey } from '@ambit/core/routes';
import type { StatusTarget, StatusWriter } from '../status/status-writer.ts';
import { publishResources, type XdsServer } from '../xds/index.ts';
import type { RouteDelta } from './route-builder.ts';
import { GATEWAY_GROUP, type RouteKind } from './route-objects.ts';

export interface RoutePublisherDeps {
  readonly xds: Pick<XdsServer, 'publish'>;
  readonly status: Pick<StatusWriter, 'setRouteParents' | 'forget'>;
  readonly log: Logger;
  /** Called once per object the route builder could not read (the controller's invalid-object metric). */
  readonly countInvalid?: () => void;
}

/**
 * A RouteDelta out to the world: changed sets over delta-xDS (`ROUTE_SET_TYPE_URL`, one resource per parent named by
 * routeSetKey; removed parents removed), status entries through the leader-only StatusWriter, unreadable routes to
 * the debug log.
 */
export function createRoutePublisher(deps: RoutePublisherDeps): (delta: RouteDelta) => void {
  const log = deps.log.child({ component: 'routes' });
  return (delta) => {
    publishResources(deps.xds, ROUTE_SET_TYPE_URL, delta.sets, (set) => routeSetKey(set.parent), encodeRouteSet);
    for (const s of delta.status) {
      const options = {
        ...(s.generation === undefined ? {} : { generation: s.generation }),
        ...(s.resourceVersion === undefined ? {} : { resourceVersion: s.resourceVersion }),
      };
      void deps.status.setRouteParents(statusTarget(s.kind, s.namespace, s.name), s.parents, s.otherParents, options);
    }
    for (const r of delta.deletedRoutes) deps.status.forget(statusTarget(r.kind, r.namespace, r.name));
    for (const e of delta.errors) {
      deps.countInvalid?.();
      log.debug({ object: e.object, field: e.field, err: e.message }, 'route not used');
    }
  };
}

export function statusTarget(kind: RouteKind, namespace: string, name: string): StatusTarget {
  return { apiVersion: `${GATEWAY_GROUP}/v1`, plural: kind === 'HTTPRoute' ? 'httproutes' : 'grpcroutes', namespace, name };
}
