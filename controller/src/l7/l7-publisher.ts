import type { Logger } from '@ambit/core';
import { encodeL7Authorization, L7_AUTHORIZATION_TYPE_URL, l7AuthorizationKey } from '@ambit/core/policy';
import type { StatusTarget, StatusWriter } from '../status/status-writer.ts';
import type { XdsServer } from '../xds/index.ts';
import type { L7Delta } from './l7-builder.ts';

export interface L7PublisherDeps {
  readonly xds: Pick<XdsServer, 'publish'>;
  readonly status: Pick<StatusWriter, 'set'>;
  readonly log: Logger;
  /** Called once per object that could not be read (the controller's invalid-object metric). */
  readonly countInvalid?: () => void;
}

/** The status target of an AuthorizationPolicy. */
export function policyStatusTarget(namespace: string, name: string): StatusTarget {
  return { apiVersion: 'security.istio.io/v1', plural: 'authorizationpolicies', namespace, name };
}

/**
 * An L7Delta out to the world: changed policies over delta-xDS (`L7_AUTHORIZATION_TYPE_URL`, one resource per policy
 * named by l7AuthorizationKey), `WaypointAccepted` conditions through the leader-only StatusWriter (the only condition
 * a targetRefs policy carries: the ztunnel status is not written for those), unreadable objects to the debug log.
 */
export function createL7Publisher(deps: L7PublisherDeps): (delta: L7Delta) => void {
  const log = deps.log.child({ component: 'l7-authz' });
  return (delta) => {
    const { upserted, removed } = delta.policies;
    if (upserted.length + removed.length > 0) {
      deps.xds.publish(L7_AUTHORIZATION_TYPE_URL, {
        upserted: upserted.map((p) => ({ name: l7AuthorizationKey(p), body: encodeL7Authorization(p) })),
        removed: [...removed],
      });
    }
    for (const s of delta.status) void deps.status.set(policyStatusTarget(s.namespace, s.name), [s.condition], s.generation);
    for (const e of delta.errors) {
      deps.countInvalid?.();
      log.debug({ object: e.object, field: e.field, err: e.message }, 'authorization policy not used by waypoints');
    }
  };
}
