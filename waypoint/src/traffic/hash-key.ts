import { randomBytes } from 'node:crypto';
import type { HashKey } from '@ambit/core/traffic';
import { headerValue, type HeaderPairs } from '../proxy/headers.ts';
import { hash53 } from './hash.ts';

/** The request facts a hash key may read. */
export interface HashFacts {
  readonly headers: HeaderPairs;
  /** Path and query as sent upstream. */
  readonly path: string;
  /** The original caller's IP. */
  readonly clientIp: string;
}

export interface RequestHash {
  /** undefined: the request lacks the key; it goes to a random endpoint (Envoy: no hash → the LB picks at random). */
  readonly hash: number | undefined;
  /** A `set-cookie` value for the response, when the cookie was generated here. */
  readonly setCookie?: string;
}

const NO_HASH: RequestHash = { hash: undefined };

/**
 * The request's hash for `consistentHash` (Envoy's hash_policy). A cookie that is absent is generated when `ttlMs` is
 * set — a random value, hashed like a received one and set on the response (`Path` when given, `Max-Age` when the TTL
 * is not zero — zero makes a session cookie, as Istio documents — and `HttpOnly`, as Envoy), so the client's next
 * requests carry it and stick to the same endpoint. Envoy derives the value from the downstream address; random is
 * as good for stickiness and does not collapse clients behind one NAT onto one endpoint.
 */
export function hashRequest(key: HashKey, req: HashFacts): RequestHash {
  switch (key.type) {
    case 'header': {
      const v = headerValue(req.headers, key.name);
      return v === undefined ? NO_HASH : { hash: hash53(v) };
    }
    case 'sourceIp':
      return { hash: hash53(req.clientIp) };
    case 'queryParameter': {
      const v = queryParameter(req.path, key.name);
      return v === undefined ? NO_HASH : { hash: hash53(v) };
    }
    case 'cookie': {
      const v = cookieValue(req.headers, key.name);
      if (v !== undefined) return { hash: hash53(v) };
      if (key.ttlMs === undefined) return NO_HASH;
      const value = randomBytes(8).toString('hex');
      let cookie = `${key.name}=${value}`;
      if (key.path !== undefined && key.path !== '') cookie += `; Path=${key.path}`;
      if (key.ttlMs > 0) cookie += `; Max-Age=${Math.ceil(key.ttlMs / 1000)}`;
      return { hash: hash53(value), setCookie: `${cookie}; HttpOnly` };
    }
  }
}

/** The first value of `name` in the query string, percent-decoded (undecodable: as sent). */
export function queryParameter(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  for (const part of path.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (decode(k) !== name) continue;
    return eq < 0 ? '' : decode(part.slice(eq + 1));
  }
  return undefined;
}

/** The value of cookie `name` from the request's `cookie` header(s) (RFC 6265 §5.4: `; `-separated pairs). */
export function cookieValue(headers: HeaderPairs, name: string): string | undefined {
  for (const [k, v] of headers) {
    if (k !== 'cookie') continue;
    for (const pair of v.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
    }
  }
  return undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
