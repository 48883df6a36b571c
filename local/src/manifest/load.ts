import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isRecord } from '@ambit/core';
import type { KubeObject } from '../kube/types.ts';
import { ManifestError, type ManifestProblem } from './manifest-error.ts';
import { validateObject } from './validate.ts';

/** An object read from a manifest, with where it came from so later errors can point back at it. */
export interface SourcedObject {
  /** The file as shown to the user (relative to where the command ran). */
  readonly file: string;
  /** Absolute path of the file. */
  readonly path: string;
  /** Document number in the file, from 1. */
  readonly document: number;
  readonly object: KubeObject;
}

const MANIFEST_EXT = /\.(ya?ml|json)$/;

/** The manifest files of a path: the file itself, or a directory's *.yaml/*.yml/*.json files (not recursive), sorted. */
export function manifestFiles(path: string): string[] {
  const st = statSync(path);
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => MANIFEST_EXT.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(path, f));
}

/**
 * Parses and validates every document of the given files. All problems of all files are collected and thrown
 * together, before anything is applied: a batch is applied whole or not at all.
 */
export function loadManifests(files: readonly string[], displayBase = process.cwd()): SourcedObject[] {
  const problems: ManifestProblem[] = [];
  const out: SourcedObject[] = [];
  for (const path of files) {
    const file = relative(displayBase, path) || path;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      problems.push({ file, document: 0, field: '', message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    out.push(...parseText(text, file, problems).map((o) => ({ ...o, path: resolve(path) })));
  }
  if (problems.length > 0) throw new ManifestError(problems);
  return sortForApply(out);
}

/** Parses one file's text; problems are appended, objects returned. */
export function parseText(text: string, file: string, problems: ManifestProblem[]): Array<Omit<SourcedObject, 'path'>> {
  const out: Array<Omit<SourcedObject, 'path'>> = [];
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const document = i + 1;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = text.slice(0, e.pos[0]).split('\n').length;
        const where = ` (line ${line} of the file)`;
        problems.push({ file, document, field: '', message: `YAML syntax: ${firstLine(e.message)}${where}` });
      }
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // an empty document, e.g. a trailing '---'
    for (const [object, prefix] of flattenList(value)) {
      const errors = validateObject(object);
      for (const e of errors) problems.push({ file, document, field: prefix + e.field, message: e.message });
      if (errors.length === 0) out.push({ file, document, object: object as KubeObject });
    }
  });
  return out;
}

/** `kind: List` documents (what `kubectl get -o yaml` writes) hold their objects in `items`. */
function flattenList(value: unknown): Array<[unknown, string]> {
  if (isRecord(value)) {
    if (value['kind'] === 'List' && Array.isArray(value['items'])) {
      return value['items'].map((item, i): [unknown, string] => [item, `items[${i}].`]);
    }
  }
  return [[value, '']];
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/** Kinds others depend on go first (a Namespace before what lives in it), as kubectl and Helm order them. */
const APPLY_ORDER = ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'Secret', 'ConfigMap', 'Service', 'Deployment', 'Pod'];

export function sortForApply<T extends { readonly object: KubeObject }>(objects: readonly T[]): T[] {
  const rank = (o: T): number => {
    const i = APPLY_ORDER.indexOf(o.object.kind);
    return i === -1 ? APPLY_ORDER.length : i;
  };
  // Array.prototype.sort is stable: file order is kept within a kind.
  return [...objects].sort((a, b) => rank(a) - rank(b));
}
