import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
          message: "Throw an AmbitError subclass with a stable code (core/src/errors.ts), or assert(...) from node:assert with a message starting 'BUG:' for an invariant.",
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly' } },
  },
);
