import { constants, type ServerHttp2Stream } from 'node:http2';
import { errorMessage } from '@ambit/core';
import { pump } from '@ambit/core/hbone';
import { endpointKey } from './balancer.ts';
import { classifyUpstreamError, localReplyFor } from './errors.ts';
import type { Endpoint } from './proxy-inputs.ts';
import type { TunnelContext } from './request-path.ts';

/**
 * TCP passthrough (a port declared `tcp`, or one the sniffer did not recognise as HTTP): one endpoint for the whole
 * connection, bytes pumped both ways with half-close carried across, a reset on either side resets the other (RFC 9113
 * §8.5), recorded once at close. `leftover` is what the sniffer read from a client that had already finished sending.
 */
export async function passThrough(ctx: TunnelContext, stream: ServerHttp2Stream, leftover: Buffer | undefined): Promise<void> {
  const startedMs = performance.now();
  const { service, servicePort, workload, targetPort } = ctx.destination;
  let endpoints: readonly Endpoint[] = [];
  if (workload !== undefined) endpoints = [{ workload, port: targetPort }];
  else if (service !== undefined && servicePort !== undefined) endpoints = ctx.inputs.state.endpoints(service, servicePort);
  // Under a DestinationRule the Service's load balancer picks and ejected endpoints are skipped (a consistent hash can
  // only use the source IP here; other keys are absent, so random). Its connection pool limits are not applied to TCP.
  const cluster =
    workload === undefined && service !== undefined && servicePort !== undefined
      ? ctx.clusters.forBackend(service, servicePort)
      : undefined;
  const endpoint =
    cluster === undefined
      ? ctx.balancer.pick(endpoints)
      : cluster.pick(endpoints, undefined, cluster.hashRequest({ headers: [], path: '/', clientIp: ctx.clientIp })?.hash);
  const labels = { sourcePrincipal: ctx.sourcePrincipal, source: ctx.source, service, destination: endpoint?.workload };
  const fail = (flag: ReturnType<typeof localReplyFor>['flag'], error: string, upstreamHost: string | undefined): void => {
    if (!stream.destroyed) stream.close(constants.NGHTTP2_CONNECT_ERROR);
    ctx.inputs.telemetry.tcpOpen(labels, { sent: () => 0, received: () => 0 }).close({
      ...labels,
      sourceAddr: ctx.sourceAddr,
      upstreamHost,
      bytesSent: 0,
      bytesReceived: 0,
      durationMs: performance.now() - startedMs,
      responseFlags: flag,
      error,
    });
  };
  if (endpoint === undefined) return fail('UH', 'no ready endpoint', undefined);
  const key = endpointKey(endpoint);
  const done = ctx.balancer.begin(key);
  let upstream;
  try {
    upstream = await ctx.upstreams.tunnel(endpoint, `${ctx.clientIp}`);
  } catch (err) {
    done();
    const failure = classifyUpstreamError(err, key);
    // A connect failure counts for outlier detection as a 503 (a gateway error), as Envoy's TCP proxy reports it.
    cluster?.report(key, 503);
    return fail(localReplyFor(failure).flag, failure.message, key);
  }
  cluster?.report(key, 200);
  if (stream.destroyed || stream.closed) {
    done();
    upstream.destroy();
    return fail('DC', 'client went away before the upstream tunnel was up', key);
  }
  if (leftover !== undefined && leftover.length > 0) upstream.write(leftover);
  const fromClient = pump(stream, upstream);
  const toClient = pump(upstream, stream);
  // A sniffed stream was paused explicitly; a 'data' listener alone does not restart it.
  stream.resume();
  const extra = leftover?.length ?? 0;
  // The waypoint reports as a server does (Envoy's SERVER_GATEWAY, like ztunnel's destination side): `sent` is what
  // went back to the client (the response direction), `received` what the client sent.
  const tracker = ctx.inputs.telemetry.tcpOpen(labels, { sent: () => toClient.bytes, received: () => fromClient.bytes + extra });
  let error: string | undefined;
  let open = 2;
  const closed = (): void => {
    open -= 1;
    if (open > 0) return;
    done();
    tracker.close({
      ...labels,
      sourceAddr: ctx.sourceAddr,
      upstreamHost: key,
      bytesSent: toClient.bytes,
      bytesReceived: fromClient.bytes + extra,
      durationMs: performance.now() - startedMs,
      responseFlags: error === undefined ? '-' : 'UC',
      error,
    });
  };
  stream.on('error', (err: Error) => {
    error ??= errorMessage(err);
  });
  upstream.on('error', (err: Error) => {
    error ??= errorMessage(err);
  });
  stream.once('close', () => {
    const clean = stream.rstCode === constants.NGHTTP2_NO_ERROR && stream.writableFinished;
    if (!clean && !upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    else if (!upstream.writableEnded) upstream.end();
    closed();
  });
  upstream.once('close', () => {
    const clean = upstream.rstCode === constants.NGHTTP2_NO_ERROR && upstream.readableEnded;
    if (!clean && !stream.closed) stream.close(constants.NGHTTP2_CONNECT_ERROR);
    closed();
  });
}
