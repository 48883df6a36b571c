import type { Logger } from '@ambit/core';
import { encodeServiceTraffic, SERVICE_TRAFFIC_TYPE_URL, serviceTrafficKey } from '@ambit/core/traffic';
import type { StatusWriter } from '../status/status-writer.ts';
import { publishResources, type XdsServer } from '../xds/index.ts';
import type { TrafficDelta } from './traffic-builder.ts';

export interface TrafficPublisherDeps {
  readonly xds: Pick<XdsServer, 'publish'>;
  readonly status: Pick<StatusWriter, 'set' | 'forget'>;
  readonly log: Logger;
  /** Called once per object (or annotation) that could not be used (the controller's invalid-object metric). */
  readonly countInvalid?: () => void;
}

/**
 * A TrafficDelta out to the world: changed ServiceTraffic over delta-xDS (SERVICE_TRAFFIC_TYPE_URL, one resource per
 * Service named by serviceTrafficKey; removed when nothing configures the Service any more), conditions through the
 * leader-only StatusWriter, unreadable objects to the debug log. A bad `ambit.dev/retry-budget` annotation has no
 * status to go to (the controller writes no Kubernetes Events), so it is logged at warn and counted.
 */
export function createTrafficPublisher(deps: TrafficPublisherDeps): (delta: TrafficDelta) => void {
  const log = deps.log.child({ component: 'traffic' });
  return (delta) => {
    publishResources(deps.xds, SERVICE_TRAFFIC_TYPE_URL, delta.traffic, (t) => serviceTrafficKey(t.service), encodeServiceTraffic);
    for (const s of delta.status) void deps.status.set(s.target, s.conditions, s.generation);
    for (const target of delta.deleted) deps.status.forget(target);
    for (const e of delta.errors) {
      deps.countInvalid?.();
      log.debug({ object: e.object, field: e.field, err: e.message }, 'traffic object not used');
    }
    for (const w of delta.warnings) {
      deps.countInvalid?.();
      log.warn({ object: w.object, field: w.field, err: w.message }, 'invalid annotation');
    }
  };
}
