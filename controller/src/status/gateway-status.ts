import { asRecord } from '@ambit/core';
import type { Condition } from './status-writer.ts';

const WAYPOINT_CLASS = 'istio-waypoint';

interface GatewayView {
  readonly namespace: string;
  readonly name: string;
  readonly generation: number | undefined;
  readonly problem: string | undefined;
}

/**
 * Conditions of waypoint Gateways (`gatewayClassName: istio-waypoint`): Accepted when the spec is a valid waypoint
 * (a `mesh` listener on 15008 with protocol HBONE), Programmed when the waypoint's Service has a ready endpoint.
 * Other gateway classes belong to other controllers and are left alone.
 */
export class GatewayStatus {
  readonly #gateways = new Map<string, GatewayView>();
  /** `ns/service` → number of ready endpoints, from EndpointSlices. */
  readonly #ready = new Map<string, Map<string, number>>();

  /** Returns the gateway key whose conditions may have changed, if any. */
  gateway(type: 'upsert' | 'delete', obj: Record<string, unknown>): string | undefined {
    const meta = asRecord(obj['metadata']);
    const spec = asRecord(obj['spec']);
    const key = `${String(meta['namespace'])}/${String(meta['name'])}`;
    if (type === 'delete' || spec['gatewayClassName'] !== WAYPOINT_CLASS) {
      // Gone (or not ours): nothing to write; the status writer forgets it on the delete event.
      this.#gateways.delete(key);
      return undefined;
    }
    const listeners = Array.isArray(spec['listeners']) ? spec['listeners'].map(asRecord) : [];
    const hbone = listeners.find((l) => l['protocol'] === 'HBONE');
    const problem =
      hbone === undefined
        ? 'spec.listeners: a waypoint needs a listener with protocol HBONE (name mesh, port 15008)'
        : hbone['port'] !== 15008
          ? `spec.listeners[${listeners.indexOf(hbone)}].port: a waypoint's HBONE listener must be on 15008`
          : undefined;
    const generation = typeof meta['generation'] === 'number' ? meta['generation'] : undefined;
    this.#gateways.set(key, { namespace: String(meta['namespace']), name: String(meta['name']), generation, problem });
    return key;
  }

  /** Returns the gateway key affected by an EndpointSlice change, if it backs a waypoint Gateway's Service. */
  endpointSlice(type: 'upsert' | 'delete', obj: Record<string, unknown>): string | undefined {
    const meta = asRecord(obj['metadata']);
    const svc = asRecord(meta['labels'])['kubernetes.io/service-name'];
    if (typeof svc !== 'string') return undefined;
    const key = `${String(meta['namespace'])}/${svc}`;
    const slices = this.#ready.get(key) ?? new Map<string, number>();
    const endpoints = Array.isArray(obj['endpoints']) ? obj['endpoints'].map(asRecord) : [];
    if (type === 'delete') slices.delete(String(meta['name']));
    else slices.set(String(meta['name']), endpoints.filter((e) => asRecord(e['conditions'])['ready'] === true).length);
    this.#ready.set(key, slices);
    return this.#gateways.has(key) ? key : undefined;
  }

  conditions(
    key: string,
  ): { target: { namespace: string; name: string }; generation: number | undefined; conditions: Condition[] } | undefined {
    const gw = this.#gateways.get(key);
    if (gw === undefined) return undefined;
    const ready = [...(this.#ready.get(key)?.values() ?? [])].reduce((a, b) => a + b, 0);
    const accepted: Condition =
      gw.problem === undefined
        ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'valid waypoint' }
        : { type: 'Accepted', status: 'False', reason: 'Invalid', message: gw.problem };
    const programmed: Condition =
      gw.problem !== undefined
        ? { type: 'Programmed', status: 'False', reason: 'Invalid', message: 'not a valid waypoint' }
        : ready > 0
          ? { type: 'Programmed', status: 'True', reason: 'Programmed', message: `${ready} ready waypoint endpoint(s)` }
          : {
              type: 'Programmed',
              status: 'False',
              reason: 'Pending',
              message: `no ready endpoint for Service ${key} (deploy the waypoint)`,
            };
    return { target: { namespace: gw.namespace, name: gw.name }, generation: gw.generation, conditions: [accepted, programmed] };
  }
}
