import { isRecord } from '@ambit/core';
import type { KubeObject, PrinterColumn } from '../kube/types.ts';

/**
 * Cells of a CRD's `additionalPrinterColumns`, as kube-apiserver's table convertor fills them: the first JSONPath
 * result, `null` (kubectl prints `<none>`) when there is none, dates as ages, strings printed, numbers and booleans
 * as JSON values. The JSONPath subset is what CRDs use in practice (apiextensions only allows "simple" paths):
 * `.a.b`, `.a[0]`, `.a[*]`, `.a[?(@.k=="v")]`, `.a[?(@.k.l=="v")]`, `['a.b']`.
 */

type Step =
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'all' }
  | { readonly kind: 'filter'; readonly path: readonly string[]; readonly value: string };

const STEP = /^(?:\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\*\]|\['([^']*)'\]|\[\?\(@((?:\.[A-Za-z0-9_-]+)+)\s*==\s*(?:"([^"]*)"|'([^']*)')\)\])/;

/** Parses a column's JSONPath (with or without `{}`); undefined when it uses more than the subset. */
export function parseJsonPath(path: string): Step[] | undefined {
  let rest = path.trim();
  if (rest.startsWith('{') && rest.endsWith('}')) rest = rest.slice(1, -1);
  if (rest.startsWith('$')) rest = rest.slice(1);
  const steps: Step[] = [];
  while (rest !== '') {
    const m = STEP.exec(rest);
    if (m === null) return undefined;
    const [all, field, index, quoted, filterPath, dq, sq] = m;
    if (field !== undefined) steps.push({ kind: 'field', name: field });
    else if (index !== undefined) steps.push({ kind: 'index', index: Number(index) });
    else if (quoted !== undefined) steps.push({ kind: 'field', name: quoted });
    else if (filterPath !== undefined) steps.push({ kind: 'filter', path: filterPath.slice(1).split('.'), value: dq ?? sq ?? '' });
    else steps.push({ kind: 'all' });
    rest = rest.slice(all.length);
  }
  return steps;
}

function at(v: unknown, path: readonly string[]): unknown {
  let cur = v;
  for (const p of path) cur = isRecord(cur) ? cur[p] : undefined;
  return cur;
}

/** Every value the path selects, in document order. */
export function evaluateJsonPath(steps: readonly Step[], root: unknown): unknown[] {
  let current: unknown[] = [root];
  for (const step of steps) {
    const next: unknown[] = [];
    for (const v of current) {
      if (step.kind === 'field') {
        if (isRecord(v) && Object.hasOwn(v, step.name)) next.push(v[step.name]);
      } else if (step.kind === 'index') {
        if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
      } else if (Array.isArray(v)) {
        for (const item of v) {
          if (step.kind === 'all') next.push(item);
          else {
            const got = at(item, step.path);
            if (got !== undefined && (typeof got === 'string' ? got : JSON.stringify(got)) === step.value) next.push(item);
          }
        }
      }
    }
    current = next;
  }
  return current;
}

/** The cell of one column for one object; `ageOf` turns an RFC 3339 time into kubectl's AGE text. */
export function printerCell(column: PrinterColumn, obj: KubeObject, ageOf: (timestamp: string) => string): unknown {
  const steps = parseJsonPath(column.jsonPath);
  const first = steps === undefined ? undefined : evaluateJsonPath(steps, obj)[0];
  if (first === undefined || first === null) return null;
  if (column.type === 'date') return typeof first === 'string' && !Number.isNaN(Date.parse(first)) ? ageOf(first) : '<invalid>';
  if (column.type === 'string') return typeof first === 'string' ? first : JSON.stringify(first);
  return first;
}
