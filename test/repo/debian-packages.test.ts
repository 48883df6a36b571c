import assert from 'node:assert/strict';
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { REPO } from './repo-files.ts';

// scripts/debian-packages.txt is the one list of Debian packages; scripts/ensure-deps.sh installs from it. This test
// makes "a tool that a test needs but nothing installs" impossible: it collects every executable the code, the tests
// and the benchmarks name, and fails when one is not provided by a line of the list in a scope that is installed
// before they run. Once a test skipped 33 times on a fresh machine because socat came from a hand install. Python
// scripts count too: a module they import from Debian's dist-packages must be listed by its file (entries ending in
// .py, which only have to exist).

type Scope = 'run' | 'test' | 'bench';

interface Listed {
  readonly pkg: string;
  readonly scope: Scope;
}

function readList(): Map<string, Listed> {
  const byExe = new Map<string, Listed>();
  const text = readFileSync(join(REPO, 'scripts', 'debian-packages.txt'), 'utf8');
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [pkg, scope, ...exes] = line.split(/\s+/);
    assert.ok(
      pkg !== undefined && (scope === 'run' || scope === 'test' || scope === 'bench'),
      `debian-packages.txt:${i + 1}: bad scope in ${JSON.stringify(raw)}`,
    );
    assert.ok(exes.length > 0, `debian-packages.txt:${i + 1}: ${pkg} names no executable`);
    for (const exe of exes) {
      assert.ok(exe.startsWith('/'), `debian-packages.txt:${i + 1}: ${exe} is not an absolute path`);
      byExe.set(exe, { pkg, scope });
    }
  }
  return byExe;
}

const SOURCE_DIRS = ['core', 'controller', 'ztunnel', 'waypoint', 'cni', 'local', 'cli', 'test', 'bench', 'scripts', 'examples'];
const SKIP_DIRS = new Set(['node_modules', 'build', 'bin', 'results', '.types']);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|mjs|js|sh|py)$/.test(name)) out.push(path);
  }
  return out;
}

// Declared needs are absolute paths (requirePrivileges' `executables`, constants such as NEEDED_EXECUTABLES). Commands
// started by name are the first argument of spawn()/execFile() or the first element of an argv array literal; such a
// name counts when it resolves on this machine's PATH, so a tool that is here by accident is caught too.
const ABSOLUTE = /['"`](\/(?:usr\/)?(?:s?bin|lib\/cni)\/[A-Za-z0-9_.+-]+)['"`]/g;
const BY_NAME = /(?:spawn|spawnSync|execFile|execFileSync)\(\s*'([a-z][a-z0-9+._-]*)'|\[\s*'([a-z][a-z0-9+._-]*)'\s*,/g;
const PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
// First elements of argv arrays that are arguments of `ip`/`kubectl`, not commands; and Node, which npm provides.
const NOT_COMMANDS = new Set(['link', 'route', 'addr', 'netns', 'hostname', 'tbl', 'node']);
// Modules a Python script imports (`import x`, `from x import y`, top-level names) that Debian installs as packages.
const PY_IMPORT = /^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)/gm;
const DIST_PACKAGES = '/usr/lib/python3/dist-packages';

/** The file a Debian package installs for module `name`, when it is a dist-packages module (not the standard library). */
function debianModuleFile(name: string): string | undefined {
  for (const candidate of [join(DIST_PACKAGES, name, '__init__.py'), join(DIST_PACKAGES, `${name}.py`)]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function scopeOf(file: string): Scope {
  const rel = relative(REPO, file);
  if (rel.startsWith('bench/')) return 'bench';
  if (
    /\.test\.ts$/.test(rel) ||
    rel.startsWith('test/') ||
    /(^|\/)(testing|test-support)\//.test(rel) ||
    /\/(test-[^/]*|[^/]*-fixtures?|fake-[^/]*|testing-[^/]*)\.ts$/.test(rel)
  )
    return 'test';
  return 'run';
}

function collectNeeds(): Map<string, Set<string>> {
  const needs = new Map<string, Set<string>>();
  const add = (exe: string, where: string): void => {
    const set = needs.get(exe) ?? new Set<string>();
    set.add(where);
    needs.set(exe, set);
  };
  for (const top of SOURCE_DIRS) {
    if (!existsSync(join(REPO, top))) continue;
    for (const file of sourceFiles(join(REPO, top))) {
      if (file.endsWith(join('test', 'repo', 'debian-packages.test.ts'))) continue;
      const text = readFileSync(file, 'utf8');
      const where = `${relative(REPO, file)} (${scopeOf(file)})`;
      if (file.endsWith('.py')) {
        for (const m of text.matchAll(PY_IMPORT)) {
          const module = m[1] === undefined ? undefined : debianModuleFile(m[1]);
          if (module !== undefined) add(module, where);
        }
        continue;
      }
      for (const m of text.matchAll(ABSOLUTE)) if (m[1] !== undefined) add(m[1], where);
      for (const m of text.matchAll(BY_NAME)) {
        const name = m[1] ?? m[2];
        if (name === undefined || NOT_COMMANDS.has(name)) continue;
        const dir = PATH_DIRS.find((d) => existsSync(join(d, name)));
        if (dir !== undefined) add(join(dir, name), where);
      }
    }
  }
  return needs;
}

const ALLOWED: Record<Scope, readonly Scope[]> = { run: ['run'], test: ['run', 'test'], bench: ['run', 'test', 'bench'] };

test('every executable the code, tests and benchmarks call is installed by scripts/debian-packages.txt', () => {
  const listed = readList();
  const needs = collectNeeds();
  // The collector must see the known cases, or it proves nothing.
  const known = ['/usr/bin/socat', '/usr/sbin/nft', '/usr/lib/cni/bridge', '/usr/bin/tshark', '/usr/bin/h2load', '/usr/bin/python3'];
  // The h2 module is found through the import in waypoint/testing/h2-peer.py, where this machine has it installed.
  if (debianModuleFile('h2') !== undefined) known.push(join(DIST_PACKAGES, 'h2', '__init__.py'));
  for (const exe of known) {
    assert.ok(needs.has(exe), `the collector no longer finds ${exe}; fix the patterns above`);
  }
  const problems: string[] = [];
  for (const [exe, places] of needs) {
    const entry = listed.get(exe);
    const where = [...places].sort().join(', ');
    if (entry === undefined) {
      problems.push(`${exe}: no package in scripts/debian-packages.txt provides it (used by ${where})`);
      continue;
    }
    for (const place of places) {
      const scope = /\((run|test|bench)\)$/.exec(place)?.[1] as Scope;
      if (!ALLOWED[scope].includes(entry.scope)) problems.push(`${exe}: listed for ${entry.scope} only, but ${place} needs it`);
    }
  }
  assert.deepEqual(problems, []);
});

test('every package listed for the code and the tests is installed on this machine (scripts/ensure-deps.sh --test ran)', (t) => {
  if (process.getuid?.() !== 0 && process.env['CI'] !== 'true') {
    t.skip('ensure-deps installs packages only as root; run as root to check the machine');
    return;
  }
  const missing: string[] = [];
  for (const [exe, { pkg, scope }] of readList()) {
    if (scope === 'bench') continue;
    try {
      // A Python module's file only has to be there; an executable has to be executable.
      accessSync(exe, exe.endsWith('.py') ? constants.R_OK : constants.X_OK);
    } catch {
      missing.push(`${exe} (${pkg})`);
    }
  }
  assert.deepEqual(missing, []);
});

test('a Python script that imports h2 is covered by the python3-h2 line, whether or not this machine has h2', () => {
  // The collector above sees Debian modules only where they are installed; this names the one the tests use.
  const importers = SOURCE_DIRS.filter((d) => existsSync(join(REPO, d)))
    .flatMap((d) => sourceFiles(join(REPO, d)))
    .filter((f) => f.endsWith('.py') && /^\s*(?:import|from)\s+h2\b/m.test(readFileSync(f, 'utf8')));
  assert.ok(importers.length > 0, 'no Python script imports h2 any more; drop this check and the python3-h2 line');
  const entry = readList().get(join(DIST_PACKAGES, 'h2', '__init__.py'));
  assert.equal(entry?.pkg, 'python3-h2', `${importers.map((f) => relative(REPO, f)).join(', ')} import h2`);
  assert.ok(entry.scope === 'run' || entry.scope === 'test', 'python3-h2 must be installed for the tests');
});
