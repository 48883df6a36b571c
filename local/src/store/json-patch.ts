import { isRecord } from '@ambit/core';
import { ApiError } from './api-error.ts';
import { jsonEqual } from './merge-patch.ts';

/**
 * JSON Patch (RFC 6902) over JSON Pointers (RFC 6901), as kube-apiserver applies `application/json-patch+json`
 * (evanphx/json-patch): `add`, `remove`, `replace`, `move`, `copy`, `test`, applied in order to a copy; any failing
 * operation fails the whole patch. kubectl sends one when it moves an object's field ownership from client-side to
 * server-side apply (`replace /metadata/managedFields` and `/metadata/resourceVersion`).
 */

/** A patch that cannot be applied: 422, as the API server answers it. */
function failed(message: string): ApiError {
  return new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${message}`);
}

function parsePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string') throw ApiError.badRequest('json patch: every operation needs a string "path"');
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw failed(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

/** The container holding the last token of `path`, and that token. */
function parentOf(doc: unknown, path: readonly string[], pointer: string): { parent: Container; token: string } {
  let cur: unknown = doc;
  for (const t of path.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, pointer, false)];
    else if (isRecord(cur) && Object.hasOwn(cur, t)) cur = cur[t];
    else throw failed(`doc is missing path: ${pointer}`);
  }
  if (!Array.isArray(cur) && !isRecord(cur)) throw failed(`doc is missing path: ${pointer}`);
  return { parent: cur, token: path[path.length - 1] ?? '' };
}

function arrayIndex(arr: readonly unknown[], token: string, pointer: string, forAdd: boolean): number {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw failed(`invalid array index ${JSON.stringify(token)} in ${pointer}`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw failed(`array index ${i} out of bounds in ${pointer}`);
  return i;
}

function get(doc: unknown, path: readonly string[], pointer: string): unknown {
  if (path.length === 0) return doc;
  const { parent, token } = parentOf(doc, path, pointer);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, token, pointer, false)];
  if (!Object.hasOwn(parent, token)) throw failed(`doc is missing path: ${pointer}`);
  return parent[token];
}

function remove(doc: unknown, path: readonly string[], pointer: string): unknown {
  if (path.length === 0) throw failed('cannot remove the whole document');
  const { parent, token } = parentOf(doc, path, pointer);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, token, pointer, false), 1)[0];
  if (!Object.hasOwn(parent, token)) throw failed(`doc is missing path: ${pointer}`);
  const old = parent[token];
  delete parent[token];
  return old;
}

function add(doc: unknown, path: readonly string[], pointer: string, value: unknown): unknown {
  if (path.length === 0) return value;
  const { parent, token } = parentOf(doc, path, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, token, pointer, true), 0, value);
  else parent[token] = value;
  return doc;
}

/** Applies `ops` to a copy of `doc` and returns it. */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw ApiError.badRequest('json patch: the body must be a JSON array of operations');
  let out: unknown = structuredClone(doc);
  for (const raw of ops) {
    if (!isRecord(raw)) throw ApiError.badRequest('json patch: every operation must be an object');
    const pointer = raw['path'];
    const path = parsePointer(pointer);
    const p = String(pointer);
    const value = (): unknown => {
      if (!Object.hasOwn(raw, 'value')) throw failed(`operation ${String(raw['op'])} of ${p} has no value`);
      return structuredClone(raw['value']);
    };
    switch (raw['op']) {
      case 'add':
        out = add(out, path, p, value());
        break;
      case 'remove':
        remove(out, path, p);
        break;
      case 'replace': {
        const v = value();
        if (path.length === 0) {
          out = v;
          break;
        }
        get(out, path, p); // must exist
        const { parent, token } = parentOf(out, path, p);
        if (Array.isArray(parent)) parent[arrayIndex(parent, token, p, false)] = v;
        else parent[token] = v;
        break;
      }
      case 'move':
      case 'copy': {
        const from = parsePointer(raw['from']);
        const moved = raw['op'] === 'move' ? remove(out, from, String(raw['from'])) : structuredClone(get(out, from, String(raw['from'])));
        out = add(out, path, p, moved);
        break;
      }
      case 'test':
        if (!jsonEqual(get(out, path, p), raw['value'])) throw failed(`testing value ${p} failed`);
        break;
      default:
        throw ApiError.badRequest(`json patch: unknown operation ${JSON.stringify(raw['op'])}`);
    }
  }
  return out;
}
