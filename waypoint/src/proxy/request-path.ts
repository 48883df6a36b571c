import { once } from 'node:events';
import type { Workload } from '@ambit/core';
import { createBackoff } from '@ambit/core';
import { modifyHeaders } from '@ambit/core/routes';
import { normalizeRequestTarget } from '@ambit/core/policy';
import type { TrafficClusters } from '../traffic/clusters.ts';
import type { Lease, UpstreamCluster } from '../traffic/upstream-cluster.ts';
import { endpointKey, type Balancer } from './balancer.ts';
import type { Destination } from './destination.ts';
import { classifyUpstreamError, isRetriableFailure, localReplyFor, WaypointError } from './errors.ts';
import type { Exchange } from './exchange.ts';
import { abortReply, drawFault, faultDelay } from './fault.ts';
import { addForwarding, headerValue, withoutHopByHop } from './headers.ts';
import { authorizeExchange, sendDenied, type AuthzRecord } from './l7-authz.ts';
import type { Endpoint, RequestRecord, ResponseFlag, WaypointInputs } from './proxy-inputs.ts';
import { ReplayBody } from './replay-body.ts';
import { RATE_LIMITED_BODY, rateLimitHeaders } from './rate-limit.ts';
import { planRoute, type RoutePlan } from './route-plan.ts';
import { checkRateLimits, openRetryGate, sendLocalReply, type TrafficGuards } from './traffic-guards.ts';
import type { UpstreamConnections, UpstreamProtocol, UpstreamResponse } from './upstream.ts';

/**
 * Bodies up to this size are kept while the first try sends them, so a retry can send them again; a larger body is
 * streamed once and its request is not retried (Envoy also stops retrying past its per-request buffer limit). 64 KiB
 * covers typical API and gRPC unary requests, and bounds the memory a request can pin.
 */
export const RETRY_BUFFER_BYTES = 64 * 1024;

/** What one tunnel (one downstream connection) knows about its requests. */
export interface TunnelContext {
  readonly inputs: WaypointInputs;
  readonly upstreams: UpstreamConnections;
  readonly balancer: Balancer;
  /** Per backend Service port under a DestinationRule: LB, circuit breakers, outlier detection (stage 5). */
  readonly clusters: TrafficClusters;
  /** The destination the tunnel's `:authority` named, resolved when the tunnel was accepted. */
  readonly destination: Destination;
  readonly sourcePrincipal: string;
  readonly source: Workload | undefined;
  readonly clientIp: string;
  /** `ip:port` of the HBONE peer. */
  readonly sourceAddr: string;
  /** Rate limits, retry budgets and fault draws of this waypoint replica (shared by every tunnel). */
  readonly guards: TrafficGuards;
}

/** Mutable while the exchange runs; frozen into a RequestRecord once, at the end. */
interface Outcome {
  status: number;
  flag: ResponseFlag;
  grpcStatus: number | undefined;
  route: string | undefined;
  destination: Workload | undefined;
  upstreamHost: string | undefined;
  attempts: number;
  requestBytes: number;
  responseBytes: number;
  error: string | undefined;
  authz: AuthzRecord | undefined;
  /** A consistent-hash cookie generated for this request, set on the response. */
  setCookie?: string | undefined;
  /** While the request waits in a circuit breaker's pending queue: takes it out (the client went away). */
  leaveQueue?: (() => void) | undefined;
}

/**
 * The request path, top to bottom (STYLE rule 5): route → redirect or forward (endpoint per try, retries, timeouts)
 * → response (header filters, body and trailers streamed) → one record. The route set and the Service are read once,
 * at the start: a request in flight finishes on the config it started with.
 */
export async function serveExchange(ctx: TunnelContext, ex: Exchange): Promise<void> {
  const startedMs = performance.now();
  const isGrpc = (headerValue(ex.headers, 'content-type') ?? '').startsWith('application/grpc');
  const headers = withoutHopByHop(ex.headers);
  const forwarding = addForwarding(headers, { clientIp: ctx.clientIp, proto: 'http' });
  const out: Outcome = {
    status: 0,
    flag: '-',
    grpcStatus: undefined,
    route: undefined,
    destination: undefined,
    upstreamHost: undefined,
    attempts: 0,
    requestBytes: 0,
    responseBytes: 0,
    error: undefined,
    authz: undefined,
  };
  let gone = false;
  ex.onGone(() => {
    gone = true;
    out.leaveQueue?.();
  });
  const body = ex.body === undefined ? undefined : new ReplayBody(ex.body, RETRY_BUFFER_BYTES);
  try {
    // (1) L7 authorization of the addressed Service, before routing (as Envoy's RBAC filter before its router).
    out.authz = authorizeExchange(ctx, ex);
    if (out.authz?.allow === false) {
      out.status = 403;
      out.responseBytes += sendDenied(ex);
      return;
    }
    // Routed and forwarded with the path the policies saw (normalised, as Envoy forwards it).
    const target = normalizeRequestTarget(ex.target);
    const plan = planRoute(ctx.inputs.state, ctx.destination, { method: ex.method, target, authority: ex.authority, headers });
    out.route = plan.route;
    // (3) Rate limits of the addressed Service and of the backend the route chose (Envoy's local rate limit filter
    // runs before the router, so a redirect is limited too).
    const limited = checkRateLimits(
      ctx.guards,
      ctx.inputs.state,
      ctx.destination.service,
      plan.kind === 'forward' ? plan.service : undefined,
      ctx.sourcePrincipal,
    );
    if (limited !== undefined) {
      out.flag = 'RL';
      out.status = 429;
      out.responseBytes += sendLocalReply(ex, 429, rateLimitHeaders(limited), RATE_LIMITED_BODY);
      return;
    }
    if (plan.kind === 'redirect') {
      out.status = plan.status;
      ex.respond(plan.status, [['location', plan.location]], true);
      return;
    }
    const protocol: UpstreamProtocol = ex.version === 'HTTP/2' ? 'h2' : 'h1';
    // timeouts.request runs from the request's start to the end of the response (GEP-1742: "as close to the whole
    // request-response transaction as possible"); every try and the response body it streams stay within it.
    const deadline = plan.requestTimeoutMs === undefined ? undefined : startedMs + plan.requestTimeoutMs;
    // (4) The rule's fault: the delay first, then the abort (Envoy's order when both are drawn).
    const fault = plan.fault === undefined ? undefined : drawFault(plan.fault, ctx.guards.random);
    if (fault?.delayMs !== undefined) {
      out.flag = 'DI';
      await faultDelay(fault.delayMs, deadline, (cb) => ex.onGone(cb));
    }
    if (fault?.abort !== undefined) {
      const reply = abortReply(fault.abort);
      out.flag = 'FI';
      out.status = reply.status;
      out.grpcStatus = reply.grpcStatus;
      out.responseBytes += sendLocalReply(ex, reply.status, reply.headers, reply.body);
      return;
    }
    const res = await forward(ctx, plan, protocol, ex.method, body, out, deadline, () => gone);
    await sendResponse(ex, plan, res, out);
  } catch (err) {
    const failure = err instanceof WaypointError ? err : classifyUpstreamError(err, out.upstreamHost ?? 'upstream');
    const reply = gone ? localReplyFor(new WaypointError('DOWNSTREAM_GONE', 'client went away')) : localReplyFor(failure);
    out.flag = reply.flag;
    out.error = failure.message;
    if (!ex.headersSent() && !gone) {
      out.status = reply.status;
      const text = Buffer.from(`${failure.message}\n`);
      ex.respond(
        reply.status,
        [
          ['content-type', 'text/plain'],
          ['content-length', String(text.length)],
        ],
        false,
      );
      ex.out.write(text);
      ex.finish(undefined);
      out.responseBytes += text.length;
    } else {
      ex.abort();
    }
  } finally {
    out.requestBytes = body?.bytes ?? 0;
    if (isGrpc && out.grpcStatus === undefined && out.status !== 0 && out.status !== 200) out.grpcStatus = grpcStatusForHttp(out.status);
    ctx.inputs.telemetry.request(record(ctx, ex, out, isGrpc, forwarding, startedMs));
  }
}

/**
 * Sends the request to an endpoint, retrying per the route's policy: connect failures, refused streams, the policy's
 * status codes, and (under a route's own retry stanza) a try cut by `timeouts.backendRequest`, with a fresh endpoint
 * each time when there is another, a jittered doubling back-off from `backoffMs` (Envoy's 25 ms by default), while
 * the body can be replayed, before the request's `deadline`, and while the backend's retry budget allows (else the
 * answer or failure that asked for the retry is the result).
 */
async function forward(
  ctx: TunnelContext,
  plan: Extract<RoutePlan, { kind: 'forward' }>,
  protocol: UpstreamProtocol,
  method: string,
  body: ReplayBody | undefined,
  out: Outcome,
  deadline: number | undefined,
  isGone: () => boolean,
): Promise<UpstreamResponse> {
  // Retries are gated by the backend Service's retry budget; this request earns its share of it now.
  const retries = openRetryGate(ctx.guards, ctx.inputs.state, ctx.inputs.telemetry, plan.service);
  const backoff = createBackoff({ initialMs: plan.retry.backoffMs ?? 25, maxMs: (plan.retry.backoffMs ?? 25) * 10, jitter: 'full' });
  const tried = new Set<string>();
  // No DestinationRule (the usual case): the shared P2C balancer, no limits. Else the backend's cluster; a consistent
  // hash is computed once, so retries (and a generated cookie) use the same one.
  const cluster =
    plan.service === undefined || plan.servicePort === undefined ? undefined : ctx.clusters.forBackend(plan.service, plan.servicePort);
  const hashed = cluster?.hashRequest({ headers: plan.headers, path: plan.path, clientIp: ctx.clientIp });
  if (hashed?.setCookie !== undefined) out.setCookie = hashed.setCookie;
  for (let attempt = 1; ; attempt++) {
    const endpoint = cluster === undefined ? ctx.balancer.pick(plan.endpoints, tried) : cluster.pick(plan.endpoints, tried, hashed?.hash);
    if (endpoint === undefined) {
      const target = plan.service === undefined ? 'destination' : `${plan.service.hostname}`;
      const why = plan.endpoints.length === 0 ? 'no ready endpoint' : 'every endpoint is ejected (outlier detection)';
      throw new WaypointError('NO_HEALTHY_UPSTREAM', `${why} of ${target}`);
    }
    const key = endpointKey(endpoint);
    tried.add(key);
    out.attempts = attempt;
    out.destination = endpoint.workload;
    out.upstreamHost = key;
    const mayRetry = (): boolean =>
      attempt <= plan.retry.attempts &&
      !isGone() &&
      (body === undefined || body.replayable()) &&
      (deadline === undefined || performance.now() < deadline);
    let res: UpstreamResponse;
    try {
      res = await tryOnce(ctx, plan, protocol, method, endpoint, body, deadline, cluster, out);
    } catch (err) {
      const failure = classifyUpstreamError(err, key);
      const retriable = isRetriableFailure(failure) || (failure.code === 'UPSTREAM_TRY_TIMEOUT' && plan.retryTryTimeout);
      if (!retriable || !mayRetry() || !retries.allow()) throw failure;
      await pause(backoff.delayMs(attempt), deadline);
      continue;
    }
    if (plan.retry.codes.includes(res.status) && mayRetry() && retries.allow()) {
      // The answer is dropped: read to its end so its connection can serve the next request.
      res.body.on('error', () => undefined);
      res.body.resume();
      await pause(backoff.delayMs(attempt), deadline);
      continue;
    }
    return res;
  }
}

/**
 * One try, bounded by `timeouts.backendRequest` and what is left of `timeouts.request`: first the response head, then
 * (the same limit) the response body. Which limit binds decides the error: backendRequest's is the retriable
 * UPSTREAM_TRY_TIMEOUT, the request's is final. Under a DestinationRule the try is first admitted by the circuit
 * breakers (overflow → UPSTREAM_OVERFLOW; a pending wait counts against the same limits and ends if the client goes),
 * and its answer — status, or connect failure / reset (503) / timeout (504) once on the wire — goes to outlier detection.
 */
async function tryOnce(
  ctx: TunnelContext,
  plan: Extract<RoutePlan, { kind: 'forward' }>,
  protocol: UpstreamProtocol,
  method: string,
  endpoint: Endpoint,
  body: ReplayBody | undefined,
  deadline: number | undefined,
  cluster: UpstreamCluster | undefined,
  out: Outcome,
): Promise<UpstreamResponse> {
  const left = deadline === undefined ? undefined : Math.max(0, deadline - performance.now());
  const limit = minDefined(left, plan.backendRequestTimeoutMs);
  const perTry = plan.backendRequestTimeoutMs !== undefined && (left === undefined || plan.backendRequestTimeoutMs < left);
  const tryStartMs = performance.now();
  const abort = new AbortController();
  const key = endpointKey(endpoint);
  let lease: Lease | undefined;
  let done = cluster === undefined ? ctx.balancer.begin(key) : undefined;
  let timer: NodeJS.Timeout | undefined;
  const timedOut =
    limit === undefined
      ? undefined
      : new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const err = new WaypointError(
              perTry ? 'UPSTREAM_TRY_TIMEOUT' : 'UPSTREAM_TIMEOUT',
              `no response from ${endpointKey(endpoint)} within ${limit} ms`,
            );
            abort.abort(err);
            reject(err);
          }, limit);
        });
  timedOut?.catch(() => undefined);
  try {
    if (cluster !== undefined) {
      const admitted = cluster.admit(endpoint, key, protocol, abort.signal);
      if (admitted instanceof Promise) {
        out.leaveQueue = () => abort.abort(new WaypointError('DOWNSTREAM_GONE', 'client went away while the request was pending'));
        try {
          lease = await (timedOut === undefined ? admitted : Promise.race([admitted, timedOut]));
        } catch (err) {
          // Left the queue (timeout, client gone); should the slot have been granted all the same, give it back.
          void admitted.then(
            (l) => l.release(),
            () => undefined,
          );
          throw err;
        } finally {
          out.leaveQueue = undefined;
        }
      } else lease = admitted;
      done = lease.release;
    }
    const request = ctx.upstreams.request(
      endpoint,
      protocol,
      {
        method,
        path: plan.path,
        authority: plan.authority,
        headers: plan.headers,
        body: body?.open(),
        signal: abort.signal,
      },
      lease?.pool,
    );
    // A try that lost the race to its timeout is aborted; its rejection is expected and handled here.
    request.catch(() => undefined);
    const res = await (timedOut === undefined ? request : Promise.race([request, timedOut]));
    // The rest of the response (its body) stays bounded by the same limit: a stalled body is cut at the deadline.
    if (timer !== undefined) {
      const t = timer;
      res.body.once('close', () => clearTimeout(t));
      timer = undefined;
      clearTimeout(t);
      if (limit !== undefined) {
        const rest = Math.max(0, limit - (performance.now() - tryStartMs));
        const bodyTimer = setTimeout(
          () => res.body.destroy(new WaypointError('UPSTREAM_TIMEOUT', 'response body not finished in time')),
          rest,
        );
        res.body.once('close', () => clearTimeout(bodyTimer));
      }
    }
    if (done !== undefined) res.body.once('close', done);
    if (lease !== undefined) cluster?.report(key, res.status);
    return res;
  } catch (err) {
    done?.();
    const failure = abort.signal.aborted && abort.signal.reason instanceof WaypointError ? abort.signal.reason : err;
    // Only a try that reached the wire says something about the endpoint (not an overflow, nor a wait in the queue).
    if (lease !== undefined) cluster?.report(key, outlierStatus(classifyUpstreamError(failure, key)));
    throw failure;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Streams the upstream response to the client: ResponseHeaderModifiers, body, trailers; gRPC status recorded. */
async function sendResponse(
  ex: Exchange,
  plan: Extract<RoutePlan, { kind: 'forward' }>,
  res: UpstreamResponse,
  out: Outcome,
): Promise<void> {
  let headers = withoutHopByHop(res.headers);
  for (const m of plan.responseModifiers) headers = modifyHeaders(headers, m);
  if (out.setCookie !== undefined) headers = [...headers, ['set-cookie', out.setCookie]];
  out.status = res.status;
  const grpcInHead = headerValue(res.headers, 'grpc-status');
  if (grpcInHead !== undefined) out.grpcStatus = Number(grpcInHead);
  if (res.endStream) {
    ex.respond(res.status, headers, true);
    return;
  }
  ex.respond(res.status, headers, false);
  res.body.on('data', (c: Buffer) => {
    out.responseBytes += c.length;
  });
  res.body.pipe(ex.out, { end: false });
  try {
    await once(res.body, 'end');
  } catch (err) {
    throw err instanceof WaypointError
      ? err
      : new WaypointError('UPSTREAM_RESET', `response from ${out.upstreamHost ?? 'upstream'} broke off`, { cause: err });
  }
  const trailers = res.trailers();
  const grpcInTrailers = trailers === undefined ? undefined : headerValue(trailers, 'grpc-status');
  if (grpcInTrailers !== undefined) out.grpcStatus = Number(grpcInTrailers);
  ex.finish(trailers);
}

function record(
  ctx: TunnelContext,
  ex: Exchange,
  out: Outcome,
  isGrpc: boolean,
  forwarding: { requestId: string; traceparent: string },
  startedMs: number,
): RequestRecord {
  return {
    protocol: isGrpc ? 'grpc' : 'http',
    httpVersion: ex.version,
    method: ex.method,
    path: ex.target,
    authority: ex.authority,
    requestId: forwarding.requestId,
    userAgent: headerValue(ex.headers, 'user-agent'),
    sourcePrincipal: ctx.sourcePrincipal,
    source: ctx.source,
    sourceAddr: ctx.sourceAddr,
    service: ctx.destination.service,
    destination: out.destination,
    upstreamHost: out.upstreamHost,
    route: out.route,
    responseCode: out.status,
    grpcStatus: isGrpc ? out.grpcStatus : undefined,
    responseFlags: out.flag,
    requestBytes: out.requestBytes,
    responseBytes: out.responseBytes,
    durationMs: performance.now() - startedMs,
    attempts: out.attempts,
    traceparent: forwarding.traceparent,
    error: out.error,
    ...(out.authz === undefined ? {} : { authz: out.authz }),
  };
}

/** gRPC's mapping of an HTTP status to a gRPC code when no grpc-status came (grpc/doc/http-grpc-status-mapping.md). */
function grpcStatusForHttp(status: number): number {
  if (status === 400) return 13;
  if (status === 401) return 16;
  if (status === 403) return 7;
  if (status === 404) return 12;
  if (status === 429 || status === 502 || status === 503 || status === 504) return 14;
  return 2;
}

/** What a local failure counts as for outlier detection (Envoy without split local-origin errors): a timeout 504, else 503. */
function outlierStatus(err: WaypointError): number {
  return err.code === 'UPSTREAM_TIMEOUT' || err.code === 'UPSTREAM_TRY_TIMEOUT' ? 504 : 503;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/** Waits `ms`, but never past the request deadline (then the next try's timeout answers 504 at once). */
function pause(ms: number, deadline: number | undefined): Promise<void> {
  const capped = deadline === undefined ? ms : Math.max(0, Math.min(ms, deadline - performance.now()));
  return new Promise((resolve) => setTimeout(resolve, capped));
}
