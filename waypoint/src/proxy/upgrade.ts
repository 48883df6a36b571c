import type { IncomingMessage } from 'node:http';
import { constants } from 'node:http2';
import type { Duplex } from 'node:stream';
import { errorMessage } from '@ambit/core';
import { pump } from '@ambit/core/hbone';
import { endpointKey } from './balancer.ts';
import { classifyUpstreamError, localReplyFor, WaypointError } from './errors.ts';
import { addForwarding, headerValue, pairsFromRaw, withoutHopByHop } from './headers.ts';
import type { ResponseFlag } from './proxy-inputs.ts';
import type { TunnelContext } from './request-path.ts';
import { planRoute } from './route-plan.ts';

/**
 * An HTTP/1.1 `Upgrade` request (WebSocket): routed like any request, then sent on its own tunnel to the chosen
 * endpoint, and from there on the two connections are piped raw — the backend's answer (101 and the upgraded protocol,
 * or a refusal) reaches the client byte for byte. Recorded once, with the status of the backend's first line.
 */
export async function serveUpgrade(ctx: TunnelContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const startedMs = performance.now();
  const headers = withoutHopByHop(pairsFromRaw(req.rawHeaders), true);
  const forwarding = addForwarding(headers, { clientIp: ctx.clientIp, proto: 'http' });
  let status = 0;
  let flag: ResponseFlag = '-';
  let error: string | undefined;
  let upstreamHost: string | undefined;
  let destination: TunnelContext['source'];
  let route: string | undefined;
  let sent = 0;
  let received = 0;
  const finish = (): void => {
    ctx.inputs.telemetry.request({
      protocol: 'http',
      httpVersion: 'HTTP/1.1',
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authority: req.headers.host ?? '',
      requestId: forwarding.requestId,
      userAgent: req.headers['user-agent'],
      sourcePrincipal: ctx.sourcePrincipal,
      source: ctx.source,
      sourceAddr: ctx.sourceAddr,
      service: ctx.destination.service,
      destination,
      upstreamHost,
      route,
      responseCode: status,
      grpcStatus: undefined,
      responseFlags: flag,
      requestBytes: sent,
      responseBytes: received,
      durationMs: performance.now() - startedMs,
      attempts: upstreamHost === undefined ? 0 : 1,
      traceparent: forwarding.traceparent,
      error,
    });
  };
  socket.on('error', () => undefined);
  try {
    const plan = planRoute(ctx.inputs.state, ctx.destination, {
      method: req.method ?? 'GET',
      target: req.url ?? '/',
      authority: req.headers.host ?? '',
      headers,
    });
    route = plan.route;
    if (plan.kind === 'redirect') {
      status = plan.status;
      socket.end(`HTTP/1.1 ${plan.status} Redirect\r\nlocation: ${plan.location}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      finish();
      return;
    }
    const endpoint = ctx.balancer.pick(plan.endpoints);
    if (endpoint === undefined) throw new WaypointError('NO_HEALTHY_UPSTREAM', 'no ready endpoint');
    upstreamHost = endpointKey(endpoint);
    destination = endpoint.workload;
    const upstream = await ctx.upstreams.tunnel(endpoint, ctx.clientIp).catch((err: unknown) => {
      throw classifyUpstreamError(err, endpointKey(endpoint));
    });
    let lines = `${req.method ?? 'GET'} ${plan.path} HTTP/1.1\r\n`;
    if (headerValue(plan.headers, 'host') === undefined) lines += `host: ${plan.authority}\r\n`;
    for (const [k, v] of plan.headers) lines += `${k}: ${v}\r\n`;
    upstream.write(Buffer.from(`${lines}\r\n`, 'latin1'));
    if (head.length > 0) upstream.write(head);
    upstream.once('data', (first: Buffer) => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(first.toString('latin1', 0, 16));
      status = m === null ? 0 : Number(m[1]);
    });
    const up = pump(socket, upstream);
    const down = pump(upstream, socket);
    let open = 2;
    const closed = (): void => {
      open -= 1;
      if (open > 0) return;
      sent = up.bytes + head.length;
      received = down.bytes;
      finish();
    };
    upstream.on('error', (err: Error) => {
      error ??= errorMessage(err);
    });
    socket.once('close', () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
      closed();
    });
    upstream.once('close', () => {
      // After a clean end the client's side finishes on its own; a broken upstream ends the client connection now.
      if (!socket.writableEnded) socket.destroy();
      closed();
    });
  } catch (err) {
    const failure = err instanceof WaypointError ? err : classifyUpstreamError(err, upstreamHost ?? 'upstream');
    const reply = localReplyFor(failure);
    status = reply.status;
    flag = reply.flag;
    error = failure.message;
    socket.end(`HTTP/1.1 ${reply.status} Error\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    finish();
  }
}
