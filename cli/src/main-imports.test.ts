import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = dirname(fileURLToPath(import.meta.url));
/** Packages whose load alone costs about a second: only commands that need them may load them, on demand. */
const HEAVY = ['@ambit/core/kube', '@kubernetes/client-node'];

/** The modules `file` imports statically (`import … from`; not type-only imports, which are erased, nor `await import(…)`). */
function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^import\s(?!type\s)[^;]*?from\s+'([^']+)';/gms)].map((m) => m[1] ?? '').filter((s) => s !== '');
}

test('ambitctl starts without loading the Kubernetes client: every command pays for what main.ts imports statically', () => {
  // `ambitctl local exec` runs in every integration test, often hundreds of times; loading client-node at start made
  // each call ~2 s slower on 2 loaded cores (and a timing check in the mesh test failed on it).
  const seen = new Set<string>();
  const heavy: string[] = [];
  const visit = (file: string, via: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(file)) {
      if (HEAVY.some((h) => spec === h || spec.startsWith(`${h}/`))) heavy.push([...via, spec].join(' → '));
      else if (spec.startsWith('.')) visit(resolve(dirname(file), spec), [...via, spec]);
    }
  };
  visit(join(SRC, 'main.ts'), ['main.ts']);
  assert.ok(seen.size > 5, `followed main.ts's imports (${seen.size} files)`);
  assert.deepEqual(heavy, [], 'load these with `await import()` where a command needs them');
});
