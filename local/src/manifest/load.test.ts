import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadManifests, manifestFiles } from './load.ts';
import { ManifestError } from './manifest-error.ts';

const dir = mkdtempSync(join(tmpdir(), 'ambit-manifest-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const POD = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: demo}\nspec: {containers: [{name: c, command: [sleep, "1"]}]}\n';

test('multi-document files load in kind order, with file and document recorded', () => {
  const path = write('a.yaml', `${POD}---\napiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n`);
  const objs = loadManifests([path], dir);
  assert.deepEqual(
    objs.map((o) => [o.object.kind, o.file, o.document]),
    [
      ['Namespace', 'a.yaml', 2],
      ['Pod', 'a.yaml', 1],
    ],
  );
  assert.equal(objs[0]?.path, path);
});

test('a field error names file:document:field', () => {
  const path = write(
    'bad.yaml',
    `${POD}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: -3\n  selector: {matchLabels: {app: a}}\n  template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, command: [x]}]}}\n`,
  );
  assert.throws(
    () => loadManifests([path], dir),
    (err: unknown) => err instanceof ManifestError && /^bad\.yaml:2:spec\.replicas: must be an integer/m.test(err.message),
  );
});

test('a YAML syntax error names the file, document and line', () => {
  const path = write('syntax.yaml', `${POD}---\nkind: Pod\nmetadata: [unclosed\n`);
  assert.throws(
    () => loadManifests([path], dir),
    (err: unknown) =>
      err instanceof ManifestError &&
      err.problems[0]?.document === 2 &&
      /syntax\.yaml:2:\(document\): YAML syntax: .*line \d+/.test(err.message),
  );
});

test('problems from every file are reported together', () => {
  const a = write('x1.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {}\n');
  const b = write('x2.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: Bad}\n');
  assert.throws(
    () => loadManifests([a, b], dir),
    (err: unknown) =>
      err instanceof ManifestError &&
      err.problems.length === 2 &&
      err.message.includes('x1.yaml:1:metadata.name') &&
      err.message.includes('x2.yaml:1:metadata.name'),
  );
});

test('kind: List documents are flattened and their fields indexed', () => {
  const path = write(
    'list.yaml',
    'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: ok}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: NotOk}\n',
  );
  assert.throws(
    () => loadManifests([path], dir),
    (err: unknown) => err instanceof ManifestError && err.message.startsWith('list.yaml:1:items[1].metadata.name'),
  );
});

test('a directory lists its manifest files only, sorted', () => {
  const sub = mkdtempSync(join(dir, 'd-'));
  writeFileSync(join(sub, 'b.yml'), '');
  writeFileSync(join(sub, 'a.json'), '');
  writeFileSync(join(sub, 'README.md'), '');
  writeFileSync(join(sub, '.hidden.yaml'), '');
  assert.deepEqual(
    manifestFiles(sub).map((f) => f.slice(sub.length + 1)),
    ['a.json', 'b.yml'],
  );
});
