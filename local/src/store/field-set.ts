import { isRecord } from '@ambit/core';
import { jsonEqual } from './merge-patch.ts';

/**
 * Sets of field paths, as structured-merge-diff (sigs.k8s.io/structured-merge-diff, `fieldpath`) keeps them for
 * server-side apply: the members of an object are its leaves (scalars, atomic lists, empty maps), the items of
 * associative lists (`k:{"name":"c"}`, which also have members below them) and the values of set lists
 * (`v:"x"`). Serialised as `FieldsV1` (`{"f:spec":{"f:replicas":{}}}`, `.` marking an item that is itself a member).
 */

export type PathElement =
  | { readonly field: string }
  | { readonly key: Readonly<Record<string, unknown>> }
  | { readonly value: unknown }
  | { readonly index: number };

export type FieldPath = readonly PathElement[];

export type ListSemantics =
  { readonly type: 'map'; readonly keys: readonly string[] } | { readonly type: 'set' } | { readonly type: 'atomic' };

/** How the list at `path` merges; `elements` are its items (rules may look at them, e.g. `ports`). */
export type ListResolver = (path: FieldPath, elements: readonly unknown[]) => ListSemantics;

/** JSON with sorted keys: the canonical text of a key or value element. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isRecord(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The FieldsV1 key of one element: `f:name`, `k:{"name":"c"}`, `v:"x"`, `i:0`. */
export function elementKey(e: PathElement): string {
  if ('field' in e) return `f:${e.field}`;
  if ('key' in e) return `k:${canonical(e.key)}`;
  if ('value' in e) return `v:${canonical(e.value)}`;
  return `i:${e.index}`;
}

function parseElement(k: string): PathElement | undefined {
  const body = k.slice(2);
  try {
    if (k.startsWith('f:')) return { field: body };
    if (k.startsWith('k:')) {
      const key: unknown = JSON.parse(body);
      return isRecord(key) ? { key } : undefined;
    }
    if (k.startsWith('v:')) return { value: JSON.parse(body) as unknown };
    if (k.startsWith('i:') && /^\d+$/.test(body)) return { index: Number(body) };
  } catch {
    return undefined;
  }
  return undefined;
}

/** fieldpath.Path.String(): `.spec.containers[name="c"].image`, `[="x"]`, `[0]`, as conflict messages print it. */
export function pathString(path: FieldPath): string {
  return path
    .map((e) => {
      if ('field' in e) return `.${e.field}`;
      if ('key' in e) {
        const parts = Object.keys(e.key)
          .sort()
          .map((k) => `${k}=${canonical(e.key[k])}`);
        return `[${parts.join(',')}]`;
      }
      if ('value' in e) return `[=${canonical(e.value)}]`;
      return `[${e.index}]`;
    })
    .join('');
}

export class FieldSet {
  readonly #paths = new Map<string, FieldPath>();

  static of(paths: Iterable<FieldPath>): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.add(p);
    return s;
  }

  add(p: FieldPath): void {
    this.#paths.set(JSON.stringify(p.map(elementKey)), p);
  }
  has(p: FieldPath): boolean {
    return this.#paths.has(JSON.stringify(p.map(elementKey)));
  }
  delete(p: FieldPath): void {
    this.#paths.delete(JSON.stringify(p.map(elementKey)));
  }
  get size(): number {
    return this.#paths.size;
  }
  paths(): FieldPath[] {
    return [...this.#paths.values()];
  }
  union(o: FieldSet): FieldSet {
    return FieldSet.of([...this.paths(), ...o.paths()]);
  }
  minus(o: FieldSet): FieldSet {
    return FieldSet.of(this.paths().filter((p) => !o.has(p)));
  }
  intersect(o: FieldSet): FieldSet {
    return FieldSet.of(this.paths().filter((p) => o.has(p)));
  }

  /** FieldsV1: a trie of element keys; `.` marks a member that also has members below it. */
  toFieldsV1(): Record<string, unknown> {
    interface Node {
      member: boolean;
      children: Map<string, Node>;
    }
    const root: Node = { member: false, children: new Map() };
    for (const p of this.#paths.values()) {
      let node = root;
      for (const e of p) {
        const k = elementKey(e);
        let next = node.children.get(k);
        if (next === undefined) {
          next = { member: false, children: new Map() };
          node.children.set(k, next);
        }
        node = next;
      }
      node.member = true;
    }
    const render = (n: Node): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      if (n.member && n.children.size > 0) out['.'] = {};
      for (const k of [...n.children.keys()].sort()) out[k] = render(n.children.get(k) as Node);
      return out;
    };
    return render(root);
  }

  /** Reads FieldsV1; keys it cannot parse are skipped (a hand-edited entry must not break writes). */
  static fromFieldsV1(v: unknown): FieldSet {
    const s = new FieldSet();
    const walk = (node: unknown, path: PathElement[]): void => {
      if (!isRecord(node)) return;
      const keys = Object.keys(node);
      if (path.length > 0 && (keys.length === 0 || keys.includes('.'))) s.add(path);
      for (const k of keys) {
        if (k === '.') continue;
        const e = parseElement(k);
        if (e !== undefined) walk(node[k], [...path, e]);
      }
    };
    walk(v, []);
    return s;
  }
}

function keyOf(item: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (item[k] !== undefined) out[k] = item[k];
  return out;
}

function keyMatches(item: unknown, key: Readonly<Record<string, unknown>>): boolean {
  return isRecord(item) && Object.entries(key).every(([k, v]) => jsonEqual(item[k], v));
}

/** The members of a value (see the file comment); nulls are absent fields. */
export function fieldSetOf(value: unknown, resolve: ListResolver): FieldSet {
  const out = new FieldSet();
  const walk = (v: unknown, path: PathElement[], isItem: boolean): void => {
    if (isRecord(v)) {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined && x !== null);
      if (isItem || entries.length === 0) {
        if (path.length > 0) out.add(path);
      }
      for (const [k, x] of entries) walk(x, [...path, { field: k }], false);
      return;
    }
    if (Array.isArray(v)) {
      const sem = resolve(path, v);
      if (sem.type === 'atomic' || v.length === 0) {
        out.add(path);
        return;
      }
      if (sem.type === 'set') {
        for (const x of v) out.add([...path, { value: x }]);
        return;
      }
      for (const item of v) {
        if (isRecord(item)) walk(item, [...path, { key: keyOf(item, sem.keys) }], true);
      }
      return;
    }
    if (path.length > 0) out.add(path);
  };
  walk(value, [], false);
  return out;
}

/** The value at `path`, or undefined when absent. */
export function valueAt(root: unknown, path: FieldPath): unknown {
  let cur: unknown = root;
  for (const e of path) {
    if ('field' in e) cur = isRecord(cur) ? cur[e.field] : undefined;
    else if ('key' in e) cur = Array.isArray(cur) ? cur.find((x) => keyMatches(x, e.key)) : undefined;
    else if ('value' in e) cur = Array.isArray(cur) ? cur.find((x) => jsonEqual(x, e.value)) : undefined;
    else cur = Array.isArray(cur) ? cur[e.index] : undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** Removes the member at `path` from `root` (in place), and maps that this leaves empty. */
export function removeAt(root: Record<string, unknown>, path: FieldPath): void {
  const parents: Array<{ container: unknown; e: PathElement }> = [];
  let cur: unknown = root;
  for (const e of path) {
    parents.push({ container: cur, e });
    cur = valueAt(cur, [e]);
    if (cur === undefined) return;
  }
  for (let i = parents.length - 1; i >= 0; i--) {
    const { container, e } = parents[i] as { container: unknown; e: PathElement };
    if (i < parents.length - 1) {
      // Only prune a parent map the removal emptied.
      const child = valueAt(container, [e]);
      if (!isRecord(child) || Object.keys(child).length > 0) return;
    }
    if ('field' in e && isRecord(container)) delete container[e.field];
    else if (Array.isArray(container)) {
      const idx =
        'key' in e
          ? container.findIndex((x) => keyMatches(x, e.key))
          : 'value' in e
            ? container.findIndex((x) => jsonEqual(x, e.value))
            : 'index' in e
              ? e.index
              : -1;
      if (idx >= 0) container.splice(idx, 1);
      return; // lists are never pruned: an emptied list stays, as the applier's other items may have been there
    } else return;
  }
}

/**
 * The members that differ between `a` and `b`: present in one only, or leaves whose values differ. List items and
 * set values count as changed only when added or removed (their fields are members of their own).
 */
export function changedFields(a: unknown, b: unknown, resolve: ListResolver): FieldSet {
  const fa = fieldSetOf(a, resolve);
  const fb = fieldSetOf(b, resolve);
  const out = new FieldSet();
  for (const p of fa.union(fb).paths()) {
    if (!fa.has(p) || !fb.has(p)) out.add(p);
    else {
      const last = p[p.length - 1];
      const isItem = last !== undefined && ('key' in last || 'value' in last);
      if (!isItem && !jsonEqual(valueAt(a, p), valueAt(b, p))) out.add(p);
    }
  }
  return out;
}

/**
 * Merges an applied configuration into a live value as apply does: maps field by field, associative lists item by
 * item (by key; new items appended), set lists as a union, everything else (scalars, atomic lists) replaced.
 */
export function mergeApplied(live: unknown, config: unknown, resolve: ListResolver, path: FieldPath = []): unknown {
  if (isRecord(config)) {
    const out: Record<string, unknown> = isRecord(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(config)) {
      if (v === undefined || v === null) continue;
      out[k] = mergeApplied(out[k], v, resolve, [...path, { field: k }]);
    }
    return out;
  }
  if (Array.isArray(config)) {
    const sem = resolve(path, [...config, ...(Array.isArray(live) ? live : [])]);
    if (sem.type === 'atomic' || !Array.isArray(live)) return structuredClone(config);
    const out = live.map((x) => structuredClone(x) as unknown);
    if (sem.type === 'set') {
      for (const x of config) if (!out.some((y) => jsonEqual(x, y))) out.push(structuredClone(x));
      return out;
    }
    for (const item of config) {
      if (!isRecord(item)) continue;
      const key = keyOf(item, sem.keys);
      const i = out.findIndex((x) => keyMatches(x, key));
      if (i === -1) out.push(structuredClone(item));
      else out[i] = mergeApplied(out[i], item, resolve, [...path, { key }]);
    }
    return out;
  }
  return structuredClone(config);
}
