import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerArgv, expandVars, imageRepository } from './container-spec.ts';

/** Kubernetes' entrypoint and expansion rules, checked against the cases of its own expansion tests. */

test('$(VAR) expansion as Kubernetes does it: $$ escapes, unknown and unterminated references stay', () => {
  const env: Record<string, string> = { VAR_A: 'A', VAR_B: 'B', EMPTY: '' };
  const x = (s: string): string => expandVars(s, (n) => (Object.hasOwn(env, n) ? env[n] : undefined));
  assert.equal(x('$(VAR_A)'), 'A');
  assert.equal(x('___$(VAR_B)___'), '___B___');
  assert.equal(x('$(VAR_A)-$(VAR_B)'), 'A-B');
  assert.equal(x('$$(VAR_B)_$(VAR_A)'), '$(VAR_B)_A');
  assert.equal(x('$$$(VAR_A)'), '$A');
  assert.equal(x('$$$$(VAR_A)'), '$$(VAR_A)');
  assert.equal(x('$(UNKNOWN)'), '$(UNKNOWN)');
  assert.equal(x('$(EMPTY)x'), 'x');
  assert.equal(x('$(VAR_A'), '$(VAR_A');
  assert.equal(x('$VAR_A'), '$VAR_A');
  assert.equal(x('trailing $'), 'trailing $');
  assert.equal(x('$()'), '$()');
  assert.equal(x('$(VAR_A)$(VAR_A)'), 'AA');
});

test('image repository: tag and digest dropped, a registry port kept', () => {
  assert.equal(imageRepository('ghcr.io/ambit-dev/ambit:0.1.0'), 'ghcr.io/ambit-dev/ambit');
  assert.equal(imageRepository('ghcr.io/ambit-dev/ambit@sha256:abcd'), 'ghcr.io/ambit-dev/ambit');
  assert.equal(imageRepository('ghcr.io/ambit-dev/ambit:0.1.0@sha256:abcd'), 'ghcr.io/ambit-dev/ambit');
  assert.equal(imageRepository('localhost:5000/app'), 'localhost:5000/app');
  assert.equal(imageRepository('localhost:5000/app:v2'), 'localhost:5000/app');
  assert.equal(imageRepository('busybox'), 'busybox');
});

test('entrypoint rules: command replaces the entrypoint, args follow it; expanded from the env', () => {
  const image = { entrypoint: ['/opt/ambit'] };
  const env = { NODE_NAME: 'node1' };
  assert.deepEqual(containerArgv({ args: ['ztunnel', '--node=$(NODE_NAME)'] }, env, image), ['/opt/ambit', 'ztunnel', '--node=node1']);
  assert.deepEqual(containerArgv({ command: ['node', '-e', '1'], args: ['$(NODE_NAME)'] }, env, image), ['node', '-e', '1', 'node1']);
  assert.deepEqual(containerArgv({}, env, image), ['/opt/ambit']);
  assert.deepEqual(containerArgv({ command: ['sleep'], args: ['1'] }, env), ['sleep', '1'], 'no local image: the host command');
});
