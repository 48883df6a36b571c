import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import boundaries (STYLE rule 1, DESIGN §2): a component imports @ambit/core and never another component (the CLI
// may also use @ambit/local), by package name or by a relative path into the other package. Tests that need two
// components live in test/integration/, which may import any of them.
const PACKAGES = ['core', 'controller', 'ztunnel', 'waypoint', 'cni', 'local', 'cli'];
const MAY_IMPORT = { core: [], cli: ['core', 'local'] };
const PACKAGE_DIRS = 'src|testing|bin|native|scripts|build';

function boundaryPatterns(pkg) {
  const allowed = MAY_IMPORT[pkg] ?? ['core'];
  const others = PACKAGES.filter((p) => p !== pkg).join('|');
  return [
    {
      regex: allowed.length === 0 ? '^@ambit/' : `^@ambit/(?!(${allowed.join('|')})(/|$))`,
      message: `${pkg} may import ${allowed.length === 0 ? 'no @ambit package' : allowed.map((p) => `@ambit/${p}`).join(' and ')} (STYLE rule 1); a test that needs another component belongs in test/integration/.`,
    },
    {
      regex: `^(\\.\\./)+(${others})/(${PACKAGE_DIRS})/`,
      message: 'No relative path into another package (STYLE rule 1); a test that needs another component belongs in test/integration/.',
    },
  ];
}

// Test support lives in each package's testing/ folder (and @ambit/core/testing). Production code, everything under
// */src and */bin but the *.test.ts files, never imports it or a test, so none of it can reach a bundle or a running
// component (test/integration/layout.test.ts checks the bundles and the file names).
const TEST_SUPPORT = '(^|/)testing(\\.ts)?(/|$)|\\.test\\.ts$';
const testSupportPattern = {
  regex: TEST_SUPPORT,
  message: 'Production code must not import test support (testing/, @ambit/core/testing) or tests; only *.test.ts files may.',
};

const boundaries = PACKAGES.flatMap((pkg) => [
  { files: [`${pkg}/**/*.{ts,js,mjs}`], rules: { 'no-restricted-imports': ['error', { patterns: boundaryPatterns(pkg) }] } },
  {
    // Later config objects replace a rule's options, so production files repeat the boundary patterns.
    files: [`${pkg}/src/**/*.ts`, `${pkg}/bin/**/*.{ts,js,mjs}`],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...boundaryPatterns(pkg), testSupportPattern] }],
      'no-restricted-syntax': [
        'error',
        { selector: `ImportExpression[source.value=/${TEST_SUPPORT.replaceAll('/', '\\/')}/]`, message: testSupportPattern.message },
      ],
    },
  },
]);

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.types/**', '**/build/**', '.state/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // Unawaited promises in proxies and runners hide errors and leak work: every one must be handled.
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // STYLE rule 13: an error a user or operator can see is an AmbitError with a stable code; an invariant is an
    // assert() whose message starts `BUG:`. Tests, test helpers and benchmarks may throw plain errors.
    files: ['**/*.ts'],
    ignores: [
      '**/*.test.ts',
      '**/testing/**',
      '**/testing.ts',
      '**/test-*.ts',
      '**/fake-*.ts',
      '**/*-fixture.ts',
      '**/*-fixtures.ts',
      'test/**',
      'bench/**',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ThrowStatement > NewExpression[callee.name='Error'], ThrowStatement > CallExpression[callee.name='Error']",
          message:
            "Throw an AmbitError subclass with a stable code (core/src/errors.ts), or assert(...) from node:assert with a message starting 'BUG:' for an invariant.",
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
      },
    },
  },
  ...boundaries,
);
