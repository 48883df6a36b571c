import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { REPO } from './repo-files.ts';

// Where test code may live: `*.test.ts` next to the code it tests, test support in each package's `testing/` folder
// (sibling of `src/`), cross-component tests here. eslint.config.js keeps production code from importing test support;
// this checks what a lint rule cannot see: file names under src/, and what actually went into the shipped bundles.

const PACKAGES = ['core', 'controller', 'ztunnel', 'waypoint', 'cni', 'local', 'cli'];

/** A file or folder name that says "test support": test-*, fake-*, testing*, *-fixture(s), mocks, stubs. */
const HELPER_NAME = /(^|[-_.])(tests?|testing|fakes?|fixtures?|mocks?|stubs?)([-_.]|$)/i;

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.name === 'node_modules') return [];
    return e.isDirectory() ? [path, ...walk(path)] : [path];
  });
}

test('no test support under */src or */bin: only *.test.ts files there are about tests', () => {
  const offenders = PACKAGES.flatMap((pkg) =>
    ['src', 'bin'].flatMap((top) =>
      walk(join(REPO, pkg, top))
        .map((path) => relative(REPO, path))
        .filter((path) => {
          const name = path.split('/').at(-1) ?? '';
          return !name.endsWith('.test.ts') && HELPER_NAME.test(name);
        }),
    ),
  );
  assert.deepEqual(offenders, [], 'test support belongs in <package>/testing/ (named by role), tests in *.test.ts next to the code');
});

test('testing/ folders hold no tests (scripts/test.sh runs *.test.ts; tests stay next to the code they test)', () => {
  const tests = PACKAGES.flatMap((pkg) => walk(join(REPO, pkg, 'testing')))
    .filter((path) => path.endsWith('.test.ts'))
    .map((path) => relative(REPO, path));
  assert.deepEqual(tests, []);
});

/**
 * The shipped bundles, their entry and the sources they are built from (as scripts/ensure-deps.sh decides whether to
 * rebuild them): a bundle older than its sources would prove nothing about the code under test.
 */
const BUNDLES = [
  {
    file: 'ztunnel/build/bundle/ztunnel.mjs',
    entry: 'ztunnel/src/main.ts',
    sources: ['ztunnel/src', 'core/src', 'scripts/build-bundle.mjs'],
  },
  {
    file: 'waypoint/build/bundle/waypoint.mjs',
    entry: 'waypoint/src/main.ts',
    sources: ['waypoint/src', 'core/src', 'scripts/build-bundle.mjs'],
  },
  {
    file: 'controller/build/bundle/controller.mjs',
    entry: 'controller/src/main.ts',
    sources: ['controller/src', 'controller/package.json', 'core/src', 'scripts/build-bundle.mjs'],
  },
  {
    file: 'cni/build/bundle/node-agent.mjs',
    entry: 'cni/src/agent/main.ts',
    sources: ['cni/src', 'core/src', 'scripts/build-bundle.mjs'],
  },
  {
    file: 'cni/bin/ambit-cni-node',
    entry: 'cni/src/plugin/main.ts',
    sources: ['cni/src/plugin', 'core/src/errors.ts', 'cni/scripts/build-plugin.mjs'],
  },
];

/** Strings only test support contains (the fake CA and xDS server, the privilege gate of tests). */
const TEST_SUPPORT_MARKERS = ['startFakeCa', 'Ambit Fake CA', 'fake CA:', 'createFakeXdsServer', 'fake xDS server', 'CI must not skip'];

function newestMtimeMs(path: string): number {
  const stat = statSync(path);
  return stat.isDirectory() ? Math.max(stat.mtimeMs, ...walk(path).map((p) => statSync(p).mtimeMs)) : stat.mtimeMs;
}

for (const bundle of BUNDLES) {
  test(`${bundle.file} contains no test support and no character beyond Latin-1`, () => {
    const file = join(REPO, bundle.file);
    assert.ok(existsSync(file), `${bundle.file} is missing: run scripts/ensure-deps.sh`);
    const builtMs = statSync(file).mtimeMs;
    const stale = bundle.sources.filter((s) => newestMtimeMs(join(REPO, s)) > builtMs);
    assert.deepEqual(stale, [], `${bundle.file} is older than its sources: run scripts/ensure-deps.sh`);

    const text = readFileSync(file, 'utf8');
    // esbuild (not minified) names every module it bundles in a `// <path>` line.
    const modules = [...text.matchAll(/^\/\/ ((?:[\w-]+\/)+[\w.-]+\.ts)$/gm)]
      .map((m) => m[1] ?? '')
      .filter((p) => PACKAGES.includes(p.split('/')[0] ?? ''));
    assert.ok(modules.includes(bundle.entry), `BUG: no module comment for ${bundle.entry}; the check below would prove nothing`);
    const testModules = modules.filter((p) => p.split('/').some((segment) => segment === 'testing' || HELPER_NAME.test(segment)));
    assert.deepEqual(testModules, [], 'test modules in the bundle');
    assert.deepEqual(
      TEST_SUPPORT_MARKERS.filter((marker) => text.includes(marker)),
      [],
      'test support code in the bundle',
    );
    // One character beyond Latin-1 and V8 holds the whole source two bytes per character (scripts/build-bundle.mjs).
    const wide = text.split('\n').findIndex((line) => /[\u0100-\u{10ffff}]/u.test(line));
    assert.equal(wide, -1, `a character beyond Latin-1 on line ${wide + 1} of ${bundle.file}`);
  });
}

// A bundle that imports node:http as an ES module loads Node's bundled undici at start-up through the ESM facade's
// getters (~2.4 MB of heap in every process); scripts/build-bundle.mjs serves those imports through require().
const REPORT_UNDICI = `data:text/javascript,process.on('exit', () => process.stderr.write('undici=' + process.moduleLoadList.some((m) => m.includes('undici')) + '\\n'))`;
for (const bundle of BUNDLES.filter((b) => b.file.endsWith('.mjs'))) {
  test(`${bundle.file} does not load undici when it starts`, () => {
    const r = spawnSync(process.execPath, [`--import=${REPORT_UNDICI}`, join(REPO, bundle.file), '--help'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    const seen = /^undici=(true|false)$/m.exec(r.stderr)?.[1];
    assert.ok(seen !== undefined, `no report from the bundle's process (status ${r.status}): ${r.stderr.slice(0, 500)}`);
    assert.equal(seen, 'false', `${bundle.file} loaded undici at start-up`);
  });
}

test('npm test runs the tests of every workspace: scripts/test.sh finds *.test.ts in each of them', () => {
  // A workspace missing from the list has tests that pass locally when run by hand and never run in CI.
  const workspaces = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  const line = readFileSync(join(REPO, 'scripts', 'test.sh'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('mapfile -t unit'));
  assert.ok(line, 'scripts/test.sh has its unit-test line');
  const searched = new Set(/find ([\w\s-]+?) -path/.exec(line)?.[1]?.split(/\s+/) ?? []);
  assert.deepEqual(
    workspaces.filter((w) => !searched.has(w)),
    [],
    `workspaces whose tests npm test never runs (scripts/test.sh: ${line})`,
  );
});
