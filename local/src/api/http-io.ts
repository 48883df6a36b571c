import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError } from '../store/api-error.ts';

/**
 * Request bodies, content negotiation and responses: everything about bytes on the wire that is not a particular
 * endpoint. Error Statuses are always plain JSON whatever the client accepts, as with the real API server.
 */

/** What a response body is rendered as. */
export type Representation = { readonly kind: 'json' } | { readonly kind: 'table'; readonly apiVersion: string };

interface MediaRange {
  readonly type: string;
  readonly params: ReadonlyMap<string, string>;
  readonly q: number;
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [typePart, ...paramParts] = part.split(';');
    const type = (typePart ?? '').trim().toLowerCase();
    if (type === '') continue;
    const params = new Map<string, string>();
    for (const p of paramParts) {
      const eq = p.indexOf('=');
      if (eq === -1) continue;
      params.set(
        p.slice(0, eq).trim().toLowerCase(),
        p
          .slice(eq + 1)
          .trim()
          .replace(/^"(.*)"$/, '$1'),
      );
    }
    const q = Number(params.get('q') ?? '1');
    ranges.push({ type, params, q: Number.isFinite(q) ? q : 0 });
  }
  // Stable: equal q keeps the client's order, which is how kubectl states its preference.
  return ranges.filter((r) => r.q > 0).sort((a, b) => b.q - a.q);
}

/**
 * Picks the representation from `Accept`. Plain JSON is always available; a meta.k8s.io Table only where
 * `tableAllowed`. Aggregated discovery (`as=APIGroupDiscoveryList`) and protobuf are never offered, so clients fall
 * back to the next range; nothing acceptable left → 406.
 */
export function negotiate(accept: string | undefined, tableAllowed: boolean): Representation {
  if (accept === undefined || accept.trim() === '') return { kind: 'json' };
  for (const r of parseAccept(accept)) {
    if (r.type !== 'application/json' && r.type !== '*/*' && r.type !== 'application/*') continue;
    const as = r.params.get('as');
    if (as === undefined) return { kind: 'json' };
    const g = r.params.get('g');
    const v = r.params.get('v');
    if (tableAllowed && as === 'Table' && g === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1')) {
      return { kind: 'table', apiVersion: `meta.k8s.io/${v}` };
    }
  }
  throw new ApiError(
    406,
    'NotAcceptable',
    `only the following media types are accepted: application/json${tableAllowed ? ', application/json;as=Table;v=v1;g=meta.k8s.io' : ''}`,
  );
}

/** The media type without parameters, lower-cased; '' when absent. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Reads the whole body, refusing more than `limitBytes` with 413 (the connection is then closed by the caller). */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  const tooLarge = (): ApiError => new ApiError(413, 'RequestEntityTooLarge', `the request body exceeds the limit of ${limitBytes} bytes`);
  if (declared > limitBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limitBytes) throw tooLarge();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON (or YAML) request body into a value; 400 naming the problem when it does not parse. */
export function parseBody(body: Buffer, contentType: string, accepted: readonly string[]): unknown {
  if (!accepted.includes(contentType)) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.filter((t) => t !== '').join(', ')}`,
    );
  }
  const text = body.toString('utf8');
  if (text.trim() === '') throw ApiError.badRequest('the request body is empty');
  try {
    return contentType === 'application/yaml' ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
  } catch (err) {
    throw ApiError.badRequest(
      `the request body could not be decoded as ${contentType === 'application/yaml' ? 'YAML' : 'JSON'}: ${(err as Error).message}`,
    );
  }
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Sends an ApiError as its Status; a body-limit failure also closes the connection (the rest is unread). */
export function sendApiError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err.status === 413) res.setHeader('Connection', 'close');
  sendJson(res, err.status, err.toStatus());
}
