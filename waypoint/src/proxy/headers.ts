import { randomFillSync, randomUUID } from 'node:crypto';

/** Header fields as ordered pairs, names lower-case (HTTP/2 requires it; HTTP/1.1 names are case-insensitive). */
export type HeaderPairs = Array<[string, string]>;

/** Pairs from Node's `rawHeaders` (`[name, value, name, value, …]`). */
export function pairsFromRaw(raw: readonly string[]): HeaderPairs {
  const out: HeaderPairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([(raw[i] as string).toLowerCase(), raw[i + 1] as string]);
  return out;
}

/** Pairs from a Node/undici header object, skipping HTTP/2 pseudo-headers. */
export function pairsFromObject(headers: Readonly<Record<string, string | string[] | number | undefined>>): HeaderPairs {
  const out: HeaderPairs = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    if (Array.isArray(value)) for (const v of value) out.push([name.toLowerCase(), v]);
    else out.push([name.toLowerCase(), String(value)]);
  }
  return out;
}

/** The value of `name` (lower-case); several fields joined with ',' (RFC 9110 §5.3). */
export function headerValue(pairs: ReadonlyArray<readonly [string, string]>, name: string): string | undefined {
  let out: string | undefined;
  for (const [k, v] of pairs) if (k === name) out = out === undefined ? v : `${out},${v}`;
  return out;
}

/** An object for `http2` and `undici` (repeated names become arrays; `set-cookie` must stay separate). */
export function pairsToObject(pairs: ReadonlyArray<readonly [string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

/** Always hop-by-hop (RFC 9110 §7.6.1), plus HTTP/2's connection-specific fields (RFC 9113 §8.2.2). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/**
 * Removes hop-by-hop fields (RFC 9110 §7.6.1): `Connection` and every field it names, keep-alive, proxy-connection,
 * transfer-encoding, `te` except `trailers` (gRPC needs it end to end), and `upgrade` unless this request upgrades
 * (then `connection: upgrade` and `upgrade` are kept so the backend sees the handshake).
 */
export function withoutHopByHop(pairs: ReadonlyArray<readonly [string, string]>, upgrading = false): HeaderPairs {
  const named = new Set<string>();
  for (const [k, v] of pairs) {
    if (k !== 'connection') continue;
    for (const token of v.split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') named.add(t);
    }
  }
  const out: HeaderPairs = [];
  for (const [k, v] of pairs) {
    if (upgrading && k === 'upgrade') {
      out.push([k, v]);
      continue;
    }
    if (HOP_BY_HOP.has(k) || (named.has(k) && !(upgrading && k === 'upgrade'))) continue;
    if (k === 'te') {
      if (v.toLowerCase().includes('trailers')) out.push([k, 'trailers']);
      continue;
    }
    out.push([k, v]);
  }
  if (upgrading) out.push(['connection', 'upgrade']);
  return out;
}

/** What the waypoint adds to every forwarded request, as Envoy does. */
export interface ForwardingFacts {
  /** The original client's IP (from the tunnel's `forwarded` header, else its peer address). */
  readonly clientIp: string;
  /** `http` (the mesh carries cleartext HTTP inside mTLS tunnels). */
  readonly proto: string;
}

/**
 * Appends the client to `x-forwarded-for`, sets `x-forwarded-proto` when absent, generates `x-request-id` (UUID v4)
 * when absent, and a W3C `traceparent` when absent (present ones, and `tracestate`, pass through unchanged). Returns
 * the request id and traceparent used, for the access log.
 */
export function addForwarding(pairs: HeaderPairs, facts: ForwardingFacts): { requestId: string; traceparent: string } {
  let xffIndex = -1;
  let requestId: string | undefined;
  let traceparent: string | undefined;
  let proto = false;
  for (let i = 0; i < pairs.length; i++) {
    const [k, v] = pairs[i] as [string, string];
    if (k === 'x-forwarded-for') xffIndex = i;
    else if (k === 'x-request-id' && v !== '') requestId = v;
    else if (k === 'traceparent' && v !== '') traceparent = v;
    else if (k === 'x-forwarded-proto') proto = true;
  }
  if (xffIndex >= 0) {
    const entry = pairs[xffIndex] as [string, string];
    entry[1] = `${entry[1]}, ${facts.clientIp}`;
  } else {
    pairs.push(['x-forwarded-for', facts.clientIp]);
  }
  if (!proto) pairs.push(['x-forwarded-proto', facts.proto]);
  if (requestId === undefined) {
    requestId = randomUUID();
    pairs.push(['x-request-id', requestId]);
  }
  if (traceparent === undefined) {
    // Version 00, not sampled: the waypoint starts the trace context so the request can be followed in logs.
    traceparent = `00-${randomHex(16)}-${randomHex(8)}-00`;
    pairs.push(['traceparent', traceparent]);
  }
  return { requestId, traceparent };
}

/**
 * Random bytes for trace ids, drawn from a pool refilled 4 KiB at a time, as crypto.randomUUID caches its entropy: two
 * `randomBytes` calls per request were 6% of the waypoint's main thread at 1000 rps (bench l7 profile, 2026-12-07).
 * Only a cache of random bytes: nothing about a request is kept here.
 */
const randomPool = Buffer.allocUnsafe(4096);
let randomPoolAt = randomPool.length;

function randomHex(bytes: number): string {
  if (randomPoolAt + bytes > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolAt = 0;
  }
  const hex = randomPool.toString('hex', randomPoolAt, randomPoolAt + bytes);
  randomPoolAt += bytes;
  return hex;
}

/** The client IP from a `forwarded: for="ip:port"` header (RFC 7239, as the source ztunnel sends it), if any. */
export function forwardedForIp(forwarded: string | undefined): string | undefined {
  if (forwarded === undefined) return undefined;
  const m = /for="?\[?([0-9a-fA-F:.]+?)\]?(?::\d+)?"?(?:;|,|$)/.exec(forwarded);
  return m?.[1];
}
