import { asRecord } from '@ambit/core';
import { GATEWAY_NAME_LABEL } from '../model/labels.ts';
import { serviceHostname } from '../model/service.ts';
import {
  MANAGED_LABEL,
  MANAGED_VALUE,
  parseWaypointGateway,
  WAYPOINT_CONTROLLER_NAME,
  type WaypointGateway,
} from '../waypoint/waypoint-gateway.ts';
import type { Condition } from './status-writer.ts';

/** `status.addresses[]` of a Gateway (Gateway API GatewayStatusAddress). */
export interface GatewayAddress {
  readonly type: 'IPAddress' | 'Hostname';
  readonly value: string;
}

export interface GatewayStatusUpdate {
  readonly target: { readonly namespace: string; readonly name: string };
  readonly generation: number | undefined;
  readonly conditions: Condition[];
  /** `null` removes addresses written earlier (the Service lost its IP, or is gone). */
  readonly addresses: GatewayAddress[] | null;
}

/**
 * Conditions of waypoint Gateways (`gatewayClassName: istio-waypoint`), as the Gateway API spec names them:
 * - `Accepted`: True when the spec is a valid waypoint (waypoint-gateway.ts), else False with the reason and the
 *   field at fault;
 * - `Programmed`: True once the waypoint Service has a ClusterIP and a ready endpoint (a ready waypoint pod); before
 *   that False with `AddressNotAssigned` or `Pending`, and `Invalid` when the Gateway is not accepted or its objects
 *   cannot be written.
 * `status.addresses` are the waypoint Service's ClusterIPs and its DNS name, as Istio writes them. Gateways of other
 * classes belong to other controllers and are left alone.
 */
export class GatewayStatus {
  readonly #gateways = new Map<string, WaypointGateway>();
  /** `ns/service` → ready endpoints per EndpointSlice. */
  readonly #ready = new Map<string, Map<string, number>>();
  /** `ns/service` → ClusterIPs, for the Services the deployer made. */
  readonly #serviceIps = new Map<string, readonly string[]>();
  /** `ns/gateway` → why the deployer could not write the Gateway's objects. */
  readonly #deployProblems = new Map<string, string>();

  /** Returns the gateway key whose conditions may have changed, if any. */
  gateway(type: 'upsert' | 'delete', obj: Record<string, unknown>): string | undefined {
    const meta = asRecord(obj['metadata']);
    const key = `${String(meta['namespace'])}/${String(meta['name'])}`;
    if (type === 'delete') {
      // Gone: nothing to write; the status writer forgets it on the delete event.
      this.#gateways.delete(key);
      this.#deployProblems.delete(key);
      return undefined;
    }
    let parsed;
    try {
      parsed = parseWaypointGateway(obj);
    } catch {
      // Unreadable metadata or spec: the last good version's conditions stand (the model reports the object).
      return undefined;
    }
    if (parsed.kind === 'other') {
      this.#gateways.delete(key);
      return undefined;
    }
    this.#gateways.set(key, parsed.gateway);
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
    if (slices.size === 0) this.#ready.delete(key);
    else this.#ready.set(key, slices);
    return this.#gateways.has(key) ? key : undefined;
  }

  /** Returns the gateway key whose addresses may have changed, for a Service the deployer made. */
  service(type: 'upsert' | 'delete', obj: Record<string, unknown>): string | undefined {
    const meta = asRecord(obj['metadata']);
    const labels = asRecord(meta['labels']);
    const gw = labels[GATEWAY_NAME_LABEL];
    if (labels[MANAGED_LABEL] !== MANAGED_VALUE || gw !== meta['name']) return undefined;
    const key = `${String(meta['namespace'])}/${String(gw)}`;
    const spec = asRecord(obj['spec']);
    const ips = Array.isArray(spec['clusterIPs']) ? spec['clusterIPs'] : [spec['clusterIP']];
    const usable = ips.filter((ip): ip is string => typeof ip === 'string' && ip !== '' && ip !== 'None');
    if (type === 'delete' || usable.length === 0) this.#serviceIps.delete(key);
    else this.#serviceIps.set(key, usable);
    return this.#gateways.has(key) ? key : undefined;
  }

  /** The deployer's verdict for a Gateway's objects; returns the key when it changed. */
  deployProblem(key: string, message: string | undefined): string | undefined {
    if (this.#deployProblems.get(key) === message) return undefined;
    if (message === undefined) this.#deployProblems.delete(key);
    else this.#deployProblems.set(key, message);
    return this.#gateways.has(key) ? key : undefined;
  }

  conditions(key: string): GatewayStatusUpdate | undefined {
    const gw = this.#gateways.get(key);
    if (gw === undefined) return undefined;
    const ready = [...(this.#ready.get(key)?.values() ?? [])].reduce((a, b) => a + b, 0);
    const ips = this.#serviceIps.get(key) ?? [];
    const deployProblem = this.#deployProblems.get(key);
    const accepted: Condition =
      gw.problem === undefined
        ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'valid waypoint' }
        : { type: 'Accepted', status: 'False', reason: gw.problem.reason, message: `${gw.problem.field}: ${gw.problem.message}` };
    const programmed = (status: 'True' | 'False', reason: string, message: string): Condition => ({
      type: 'Programmed',
      status,
      reason,
      message,
    });
    const svc = `Service ${key}`;
    const condition =
      gw.problem !== undefined
        ? programmed('False', 'Invalid', 'the Gateway is not accepted; nothing is deployed for it')
        : deployProblem !== undefined
          ? programmed('False', 'Invalid', deployProblem)
          : ips.length === 0
            ? programmed('False', 'AddressNotAssigned', `waiting for the waypoint ${svc} and its ClusterIP`)
            : ready === 0
              ? programmed('False', 'Pending', `no ready waypoint pod behind ${svc} yet`)
              : programmed('True', 'Programmed', `${ready} ready waypoint pod(s) behind ${svc}`);
    const addresses: GatewayAddress[] | null =
      ips.length === 0
        ? null
        : [
            ...ips.map((value) => ({ type: 'IPAddress' as const, value })),
            { type: 'Hostname', value: serviceHostname(gw.name, gw.namespace) },
          ];
    return { target: { namespace: gw.namespace, name: gw.name }, generation: gw.generation, conditions: [accepted, condition], addresses };
  }
}

/** The `Accepted` condition of a GatewayClass this controller serves (`controllerName` ours), else undefined. */
export function gatewayClassConditions(obj: Record<string, unknown>): Condition[] | undefined {
  if (asRecord(obj['spec'])['controllerName'] !== WAYPOINT_CONTROLLER_NAME) return undefined;
  return [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Handled by the Ambit controller' }];
}
