import type { Logger, Service, Workload } from '@ambit/core';
import type { HbonePool, WorkloadCert } from '@ambit/core/hbone';
import type { L7Authorization } from '@ambit/core/policy';
import type { RouteSet } from '@ambit/core/routes';
import type { ServiceTraffic } from '@ambit/core/traffic';

/**
 * The contract between the waypoint's data path (`proxy/`) and the rest of the waypoint (`state/`, `identity/`,
 * `telemetry/`, `app.ts`), as ztunnel's `ProxyInputs`: built once by the app before the 15008 listener exists and
 * handed unchanged to the data path. The parts fill over time (xDS into `state`, the certificate into `cert`).
 */

/** The waypoint's own settings that the data path reads. */
export interface WaypointConfig {
  /** The Gateway this waypoint serves (`namespace`/`name`): it serves Services and workloads that name it. */
  readonly gateway: { readonly namespace: string; readonly name: string };
  /** The waypoint's SPIFFE ID (its ServiceAccount): presented upstream and downstream. */
  readonly identity: string;
  readonly trustDomain: string;
  /** This waypoint pod's name and IP, for logs and labels. */
  readonly podName: string;
  readonly podIp: string;
}

/** One ready endpoint of a Service port, as the data path load-balances over them. */
export interface Endpoint {
  readonly workload: Workload;
  /** The workload's port for the Service port (targetPort resolved). */
  readonly port: number;
}

/** What the controller last published, read per request (filled by the xDS client; never blocks). */
export interface WaypointState {
  serviceByVip(ip: string): Service | undefined;
  serviceByHostname(namespace: string, hostname: string): Service | undefined;
  workloadByIp(ip: string): Workload | undefined;
  /** Healthy endpoints of `service` for its port `port`, in a stable order; empty when none. */
  endpoints(service: Service, port: number): readonly Endpoint[];
  /**
   * The routes for a request to `service:port`: the Service's own route set for that port, else its port-less one,
   * else this waypoint Gateway's; undefined when none (then: default routing to the Service).
   */
  routesFor(service: Service, port: number): RouteSet | undefined;
  /**
   * The L7 authorization policies for a request addressed to `service` (undefined: a pod addressed by IP): those that
   * target this waypoint's Gateway, plus those that target `service`. Stable order (by `namespace/name`).
   */
  l7PoliciesFor(service: Service | undefined): readonly L7Authorization[];
  /** The traffic policy for requests sent to `service` (DestinationRule, retry budget, rate limit); undefined: none. */
  trafficFor(service: Service): ServiceTraffic | undefined;
  /** Bumped on every accepted change. */
  generation(): number;
}

/** How an HTTP exchange ended, for `response_flags` (Envoy's short names). */
export type ResponseFlag =
  | '-'
  /** UH: no healthy upstream. */
  | 'UH'
  /** UF: upstream connection failure. */
  | 'UF'
  /** UT: upstream request timeout. */
  | 'UT'
  /** URX: retries exhausted (upstream retry limit). */
  | 'URX'
  /** UC: upstream connection termination. */
  | 'UC'
  /** DC: downstream connection termination. */
  | 'DC'
  /** NR: no route configured (e.g. a rule with no valid backend). */
  | 'NR'
  /** DPE: downstream protocol error (bad request line, smuggling, headers too large). */
  | 'DPE'
  /** UO: upstream overflow (connection pool / circuit breaker limits of a DestinationRule). */
  | 'UO'
  /** RL: rate limited (LocalRateLimit). */
  | 'RL'
  /** DI: the request was delayed by fault injection (and then served). */
  | 'DI'
  /** FI: the request was aborted by fault injection. */
  | 'FI';

/** One finished HTTP request (or gRPC call), recorded once, when its response ends or it fails. */
export interface RequestRecord {
  readonly protocol: 'http' | 'grpc';
  /** Downstream HTTP version as seen by the waypoint: `HTTP/1.1` or `HTTP/2`. */
  readonly httpVersion: string;
  readonly method: string;
  /** Path as received (before rewrites). */
  readonly path: string;
  /** `:authority`/Host as received. */
  readonly authority: string;
  readonly requestId: string;
  readonly userAgent: string | undefined;
  /** The original caller: its SPIFFE ID from the HBONE client certificate, and its workload if known. */
  readonly sourcePrincipal: string;
  readonly source: Workload | undefined;
  /** Downstream address (`ip:port`) of the HBONE connection. */
  readonly sourceAddr: string;
  /** The Service addressed (undefined when a pod IP was addressed and it backs no Service). */
  readonly service: Service | undefined;
  /** The endpoint of the last try, if one was chosen. */
  readonly destination: Workload | undefined;
  /** `ip:port` of the last try's endpoint. */
  readonly upstreamHost: string | undefined;
  /** `namespace/name` and rule index of the route that matched, if any. */
  readonly route: string | undefined;
  /** 0 when no response was sent (downstream went away first). */
  readonly responseCode: number;
  /** gRPC status from the trailers (or trailers-only response); undefined for plain HTTP. */
  readonly grpcStatus: number | undefined;
  readonly responseFlags: ResponseFlag;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly durationMs: number;
  /** Tries to an upstream (1 = no retry). */
  readonly attempts: number;
  readonly traceparent: string | undefined;
  /** Failure text for the access log (ERROR level), if any. */
  readonly error: string | undefined;
  /**
   * The L7 authorization decision, when policies applied: the deciding policy (`namespace/name`) and rule index, and
   * what dry-run policies would have done when that differs. Logged on the access line; a denial is a 403.
   */
  readonly authz?: {
    readonly allow: boolean;
    readonly policy?: string;
    readonly rule?: number;
    readonly dryRun?: { readonly allow: boolean; readonly policy?: string };
  };
}

/** One TCP passthrough connection (a port declared `tcp` or not recognised as HTTP), recorded at close. */
export interface TcpRecord {
  readonly sourcePrincipal: string;
  readonly source: Workload | undefined;
  readonly sourceAddr: string;
  readonly service: Service | undefined;
  readonly destination: Workload | undefined;
  readonly upstreamHost: string | undefined;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly durationMs: number;
  readonly responseFlags: ResponseFlag;
  readonly error: string | undefined;
}

/** Live byte counts of an open TCP passthrough (read at scrape time, so long connections show progress). */
export interface TcpTracker {
  /** Call once at close with the final record. */
  close(record: TcpRecord): void;
}

export interface WaypointTelemetry {
  /** istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes + access line. */
  request(record: RequestRecord): void;
  /** istio_tcp_connections_opened_total at open; byte counters follow the live counts; closed + access line at close. */
  tcpOpen(
    labels: Pick<TcpRecord, 'sourcePrincipal' | 'source' | 'service' | 'destination'>,
    live: { readonly sent: () => number; readonly received: () => number },
  ): TcpTracker;
  /**
   * `ambit_waypoint_retries_total{destination_service, outcome}`: `sent` for a retry that went out, `budget_exhausted`
   * for one the retry budget refused (the last answer is then returned to the client).
   */
  retry(service: Service | undefined, outcome: 'sent' | 'budget_exhausted'): void;
  /**
   * Outlier detection: `ambit_waypoint_outlier_ejections_total{destination_service}` on ejection, and
   * `ambit_waypoint_outlier_ejected{destination_service}` (gauge of endpoints ejected now) both ways; logged.
   */
  outlier(service: Service, endpoint: string, event: 'ejected' | 'returned'): void;
}

export interface WaypointInputs {
  readonly config: WaypointConfig;
  readonly state: WaypointState;
  /** The waypoint's own certificate (renewed in the background); undefined until the first one arrived. */
  readonly cert: () => WorkloadCert | undefined;
  /** Mesh root PEMs peers' certificates must chain to. */
  readonly roots: () => readonly string[];
  /** HBONE sessions to destination pods' 15008, presenting `config.identity`. */
  readonly pool: HbonePool;
  readonly telemetry: WaypointTelemetry;
  readonly log: Logger;
}
