import { ADDRESS_TYPE_URL, type Logger } from '@ambit/core';
import { decodeCheckedAddress, type AddressResource } from '@ambit/core/codec';
import { decodeL7Authorization, L7_AUTHORIZATION_TYPE_URL, type L7Authorization } from '@ambit/core/policy';
import { ROUTE_SET_TYPE_URL, decodeRouteSet, type RouteSet } from '@ambit/core/routes';
import { SERVICE_TRAFFIC_TYPE_URL, decodeServiceTraffic, type ServiceTraffic } from '@ambit/core/traffic';
import { createXdsClient, xdsType, type BackoffOptions, type XdsClient } from '@ambit/core/xds';
import type { WaypointStore } from './waypoint-state.ts';

export interface ConfigLinkOptions {
  /** The controller's xDS target: `unix:/path` or `host:port`. */
  readonly target: string;
  /** Verify the controller's TLS against these roots; absent: plaintext (a `unix:` target). */
  readonly tls?: { readonly ca: string };
  /** xDS node id and metadata (see waypointNode). */
  readonly node: { readonly id: string; readonly metadata: Readonly<Record<string, string>> };
  /** The bearer credential for each new stream (re-read per attempt, so a rotated token is picked up). */
  readonly token: () => Promise<string>;
  readonly store: WaypointStore;
  readonly log: Logger;
  /** Reconnect schedule; default core's. */
  readonly backoff?: BackoffOptions;
}

export interface ConfigLink {
  readonly xds: XdsClient;
  /** True once the controller answered every subscribed type at least once (the readiness condition "first config"). */
  synced(): boolean;
  /** Resolves when `synced()` first becomes true. */
  readonly firstConfig: Promise<void>;
  close(): void;
}

/**
 * The waypoint's subscription to the controller (delta xDS, as ztunnel's): every Address (workloads and services, for
 * look-ups of any destination), every RouteSet, every L7Authorization and every ServiceTraffic (traffic policy per
 * Service), all wildcard. Each accepted response is applied to the store as a whole; a response with a resource that
 * does not decode is NACKed by the client and nothing of it is applied, so the store stays at the last good config
 * (the client also keeps it through controller outages and resumes).
 */
export function startConfigLink(options: ConfigLinkOptions): ConfigLink {
  const { store } = options;
  const seen = new Set<string>();
  let arrived: () => void = () => undefined;
  const firstConfig = new Promise<void>((resolve) => (arrived = resolve));
  // One wildcard subscription per type: decoded with core's codec for it, each accepted response applied to the store.
  const subscription = <T>(
    typeUrl: string,
    decode: (name: string, bytes: Uint8Array) => T,
    apply: (upserted: ReadonlyMap<string, T>, removed: readonly string[]) => void,
  ) =>
    xdsType<T>({
      typeUrl,
      decode,
      onChange: (c) => {
        apply(c.upserted, c.removed);
        received(typeUrl);
      },
    });
  const types = [
    subscription<AddressResource>(
      ADDRESS_TYPE_URL,
      (_name, bytes) => decodeCheckedAddress(bytes),
      (u, r) => store.applyAddresses(u, r),
    ),
    subscription<RouteSet>(ROUTE_SET_TYPE_URL, decodeRouteSet, (u, r) => store.applyRouteSets(u, r)),
    subscription<L7Authorization>(L7_AUTHORIZATION_TYPE_URL, decodeL7Authorization, (u, r) => store.applyL7Authorizations(u, r)),
    subscription<ServiceTraffic>(SERVICE_TRAFFIC_TYPE_URL, decodeServiceTraffic, (u, r) => store.applyServiceTraffic(u, r)),
  ];
  // Every subscribed type must have answered once ("first config"): serving before the policies arrived would let
  // requests through that an ALLOW policy refuses.
  const synced = (): boolean => types.every((t) => seen.has(t.typeUrl));
  const received = (typeUrl: string): void => {
    seen.add(typeUrl);
    if (synced()) arrived();
  };
  const xds = createXdsClient({
    target: options.target,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    node: options.node,
    log: options.log,
    callMetadata: async () => {
      const token = await options.token();
      return token === '' ? {} : { authorization: `Bearer ${token}` };
    },
    ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    types,
  });
  return { xds, synced, firstConfig, close: () => xds.close() };
}

/**
 * The xDS node of a waypoint pod, in Istio's proxy-id shape for gateways (`router~<pod IP>~<pod>.<namespace>~
 * <namespace>.svc.cluster.local`), with metadata naming the Gateway it serves so the controller can tell waypoints
 * apart from ztunnels.
 */
export function waypointNode(c: {
  readonly podIp: string;
  readonly podName: string;
  readonly podNamespace: string;
  readonly gatewayName: string;
  readonly serviceAccount: string;
}): { id: string; metadata: Record<string, string> } {
  return {
    id: `router~${c.podIp}~${c.podName}.${c.podNamespace}~${c.podNamespace}.svc.cluster.local`,
    metadata: {
      NAME: c.podName,
      NAMESPACE: c.podNamespace,
      INSTANCE_IPS: c.podIp,
      SERVICE_ACCOUNT: c.serviceAccount,
      GATEWAY_NAME: c.gatewayName,
      PROXY_TYPE: 'waypoint',
    },
  };
}
