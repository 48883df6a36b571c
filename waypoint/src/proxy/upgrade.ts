import { request as httpRequest, type IncomingMessage } from 'node:http';
import { constants } from 'node:http2';
import type { Duplex } from 'node:stream';
import { errorMessage } from '@ambit/core';
import { pump } from '@ambit/core/hbone';
import { modifyHeaders } from '@ambit/core/routes';
import { endpointKey } from './balancer.ts';
import { classifyUpstreamError, localReplyFor, WaypointError } from './errors.ts';
import { addForwarding, headerValue, pairsFromRaw, withoutHopByHop, type HeaderPairs } from './headers.ts';
import type { ResponseFlag } from './proxy-inputs.ts';
import type { TunnelContext } from './request-path.ts';
import { planRoute } from './route-plan.ts';
import { asSocket } from './stream-socket.ts';

/**
 * An HTTP/1.1 `Upgrade` request (WebSocket): routed like any request, then sent on its own tunnel to the chosen
 * endpoint with Node's HTTP client, which tells the two answers apart. A 101 switches both connections to a raw pipe
 * (the upgraded protocol). Any other status is the backend declining the upgrade (RFC 9110 §7.8: the server "MAY
 * ignore" Upgrade): it is relayed as an ordinary response, and the client's connection goes back to the HTTP/1.1
 * server for its next request (`resume`), so nothing the client sends later bypasses routing. Recorded once.
 */
export async function serveUpgrade(
  ctx: TunnelContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  resume: (socket: Duplex) => void,
): Promise<void> {
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
  let recorded = false;
  const finish = (): void => {
    if (recorded) return;
    recorded = true;
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
    const tunnel = await ctx.upstreams.tunnel(endpoint, ctx.clientIp).catch((err: unknown) => {
      throw classifyUpstreamError(err, endpointKey(endpoint));
    });
    const upstream = asSocket(tunnel, {
      remoteAddress: endpoint.workload.addresses[0] ?? '',
      remotePort: endpoint.port,
      localAddress: '',
      localPort: 0,
    });
    const flat: string[] = [];
    if (headerValue(plan.headers, 'host') === undefined) flat.push('host', plan.authority);
    for (const [k, v] of plan.headers) flat.push(k, v);
    const out = httpRequest({ method: req.method ?? 'GET', path: plan.path, headers: flat, createConnection: () => upstream as never });
    const responseHead = (res: IncomingMessage, framing: HeaderPairs, keep: boolean): Buffer => {
      let pairs = [...(keep ? pairsFromRaw(res.rawHeaders) : withoutHopByHop(pairsFromRaw(res.rawHeaders))), ...framing];
      for (const m of plan.responseModifiers) pairs = modifyHeaders(pairs, m);
      let text = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`;
      for (const [k, v] of pairs) text += `${k}: ${v}\r\n`;
      return Buffer.from(`${text}\r\n`, 'latin1');
    };
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.once('upgrade', (res: IncomingMessage, up: Duplex, upHead: Buffer) => {
        out.off('error', reject);
        status = res.statusCode ?? 101;
        socket.write(responseHead(res, [], true));
        if (upHead.length > 0) socket.write(upHead);
        if (head.length > 0) up.write(head);
        pipeUpgraded(socket, up, head.length, upHead.length, (r) => {
          sent = r.sent;
          received = r.received;
          error ??= r.error;
          finish();
        });
        resolve();
      });
      out.once('response', (res: IncomingMessage) => {
        out.off('error', reject);
        status = res.statusCode ?? 0;
        relayDeclined(req.method ?? 'GET', res, socket, responseHead, (bytes, err) => {
          received = bytes;
          error ??= err;
          finish();
          tunnel.close(constants.NGHTTP2_CANCEL);
          if (err !== undefined) {
            socket.destroy();
            return;
          }
          // The client's connection is an HTTP/1.1 connection again: whatever it sent after the request is its next one.
          if (head.length > 0) socket.unshift(head);
          resume(socket);
        });
        resolve();
      });
      out.end();
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

/** Both connections as a raw pipe after a 101, until both ends close; `done` gets the bytes each way. */
function pipeUpgraded(
  socket: Duplex,
  upstream: Duplex,
  headBytes: number,
  upHeadBytes: number,
  done: (r: { sent: number; received: number; error: string | undefined }) => void,
): void {
  const up = pump(socket, upstream);
  const down = pump(upstream, socket);
  let error: string | undefined;
  let open = 2;
  const closed = (): void => {
    open -= 1;
    if (open === 0) done({ sent: up.bytes + headBytes, received: down.bytes + upHeadBytes, error });
  };
  upstream.on('error', (err: Error) => {
    error ??= errorMessage(err);
  });
  socket.once('close', () => {
    if (!upstream.destroyed) upstream.destroy();
    closed();
  });
  upstream.once('close', () => {
    // After a clean end the client's side finishes on its own; a broken upstream ends the client connection now.
    if (!socket.writableEnded) socket.destroy();
    closed();
  });
}

/**
 * Relays a declined upgrade's response as an ordinary HTTP/1.1 response: hop-by-hop fields dropped, the body framed by
 * its Content-Length or re-chunked, nothing after its end. `done` gets the body bytes, or the error that broke it.
 */
function relayDeclined(
  method: string,
  res: IncomingMessage,
  socket: Duplex,
  headOf: (res: IncomingMessage, framing: HeaderPairs, keep: boolean) => Buffer,
  done: (bodyBytes: number, error: string | undefined) => void,
): void {
  const code = res.statusCode ?? 0;
  const bodyless = method === 'HEAD' || code === 204 || code === 304 || (code >= 100 && code < 200);
  const length = res.headers['content-length'];
  const chunked = !bodyless && length === undefined;
  socket.write(headOf(res, chunked ? [['transfer-encoding', 'chunked']] : [], false));
  let bytes = 0;
  res.on('data', (c: Buffer) => {
    bytes += c.length;
    if (chunked) socket.write(`${c.length.toString(16)}\r\n`);
    const more = socket.write(c);
    if (chunked) socket.write('\r\n');
    if (!more) {
      res.pause();
      socket.once('drain', () => res.resume());
    }
  });
  res.once('end', () => {
    if (chunked) socket.write('0\r\n\r\n');
    done(bytes, undefined);
  });
  res.once('error', (err: Error) => done(bytes, errorMessage(err)));
}
