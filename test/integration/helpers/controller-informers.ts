import assert from 'node:assert/strict';
import type { KubeConfig } from '@kubernetes/client-node';
import type { BackoffOptions, Logger } from '@ambit/core';
import { startInformer, type KubeClient, type RunningInformer, type WatchEventType } from '@ambit/core/kube';
import { WATCHED_KINDS } from '../../../controller/src/kube/watched-kinds.ts';

export interface ControllerInformerOptions {
  readonly kc: KubeConfig;
  readonly client: KubeClient;
  readonly log: Logger;
  /** Kind names (`DestinationRule`); every one must be a kind the controller watches. */
  readonly kinds: readonly string[];
  readonly onEvent: (type: WatchEventType, object: Record<string, unknown>, kind: string) => void;
  readonly backoff?: BackoffOptions;
}

/**
 * The controller's own informers (WATCHED_KINDS: same API versions, selectors) for `kinds`, in the controller's order,
 * each event handed to `onEvent` with its kind: what a test of one controller part feeds it from the local API. The
 * caller stops them (and may await their `synced`).
 */
export function startControllerInformers(o: ControllerInformerOptions): RunningInformer[] {
  const watched = WATCHED_KINDS.filter((k) => o.kinds.includes(k.kind));
  assert.deepEqual(
    o.kinds.filter((k) => !watched.some((w) => w.kind === k)),
    [],
    'kinds the controller does not watch',
  );
  return watched.map((kind) =>
    startInformer({
      kc: o.kc,
      client: o.client,
      kind,
      log: o.log,
      ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
      onEvent: (type, object) => o.onEvent(type, object, kind.kind),
    }),
  );
}
