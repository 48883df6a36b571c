import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldError, KubeObjectError } from './field-error.ts';
import { describeValue, FieldReader } from './field-reader.ts';
import { describeObject, kubeObjectReader } from './kube-object.ts';

const problemOf = (read: (r: FieldReader) => unknown): string => {
  try {
    read(FieldReader.throwing('Thing t'));
  } catch (err) {
    assert.ok(err instanceof FieldError, String(err));
    assert.equal(err.code, 'INVALID_FIELD');
    assert.equal(err.message, `Thing t: ${err.field}: ${err.problem}`);
    return `${err.field}: ${err.problem}`;
  }
  assert.fail('expected a FieldError');
};

test('a wrong value says what was expected and what came; a missing one says it is required', () => {
  const cases: Array<[(r: FieldReader) => unknown, string]> = [
    [(r) => r.record([1], 'spec'), 'spec: must be an object, got a list'],
    [(r) => r.record(null, 'spec'), 'spec: required (must be an object)'],
    [(r) => r.array('x', 'spec.ports'), 'spec.ports: must be a list, got "x"'],
    [(r) => r.string(3, 'metadata.name'), 'metadata.name: must be a string, got number 3'],
    [(r) => r.name('', 'metadata.name'), 'metadata.name: must not be empty'],
    [(r) => r.boolean('false', 'dryRun'), 'dryRun: must be a boolean, got "false"'],
    [(r) => r.integer(1.5, 'spec.replicas', 0, 10), 'spec.replicas: must be an integer from 0 to 10, got number 1.5'],
    [(r) => r.number(100.5, 'percentage.value', 0, 100), 'percentage.value: must be a number from 0 to 100, got number 100.5'],
    [(r) => r.number(Number.NaN, 'ratio', 0, 1), 'ratio: must be a number from 0 to 1, got number NaN'],
    [(r) => r.port(0, 'port'), 'port: must be an integer port from 1 to 65535, got number 0'],
    [(r) => r.port(65536, 'port', 0), 'port: must be an integer port from 0 to 65535, got number 65536'],
    [(r) => r.oneOf('X', 'mode', ['A', 'B']), 'mode: must be one of A, B, got "X"'],
    [(r) => r.oneOf(undefined, 'mode', ['A', 'B']), 'mode: required (must be one of A, B)'],
    [(r) => r.ip('10.0.0.300', 'ips[0]'), 'ips[0]: "10.0.0.300" is not an IP address'],
    [(r) => r.strings(['a', 2], 'command'), 'command[1]: must be a string, got number 2'],
    [
      (r) => r.optStringMap({ version: 1 }, 'metadata.labels'),
      'metadata.labels[version]: must be a string, got number 1 (quote it in YAML)',
    ],
    [(r) => r.optIntOrString(70000, 'targetPort'), 'targetPort: must be an integer port from 1 to 65535, got number 70000'],
  ];
  for (const [read, expected] of cases) assert.equal(problemOf(read), expected);
});

test('optional reads accept missing values (undefined or null) and still check present ones', () => {
  const r = FieldReader.throwing('Thing t');
  assert.equal(r.optRecord(null, 'a'), undefined);
  assert.deepEqual(r.optArray(undefined, 'a'), []);
  assert.deepEqual(r.optStrings(null, 'a'), []);
  assert.deepEqual(r.optStringMap(undefined, 'a'), {});
  assert.equal(r.optString(undefined, 'a'), undefined);
  assert.equal(r.optBoolean(null, 'a'), undefined);
  assert.equal(r.optInteger(undefined, 'a', 0, 1), undefined);
  assert.equal(r.optOneOf(undefined, 'a', ['x']), undefined);
  assert.equal(r.optIntOrString('8080', 'a'), 8080, 'a quoted number is the number');
  assert.equal(r.optIntOrString('http', 'a'), 'http');
  assert.throws(() => r.optString(3, 'a'), /a: must be a string, got number 3/);
});

test('a collecting reader records every problem, returns undefined for each failed read, and goes on', () => {
  const c = FieldReader.collecting();
  assert.equal(c.record('x', 'spec'), undefined);
  assert.equal(c.strings(['a', 1, 2], 'command'), undefined, 'a list with a bad entry fails as a whole');
  assert.equal(c.optStringMap({ a: 'x', b: true }, 'labels'), undefined);
  assert.deepEqual(c.optStrings(['a'], 'args'), ['a']);
  c.fail('spec.ports', 'must hold at least one port');
  assert.deepEqual(c.problems, [
    { field: 'spec', message: 'must be an object, got "x"' },
    { field: 'command[1]', message: 'must be a string, got number 1' },
    { field: 'command[2]', message: 'must be a string, got number 2' },
    { field: 'labels[b]', message: 'must be a string, got boolean true (quote it in YAML)' },
    { field: 'spec.ports', message: 'must hold at least one port' },
  ]);
});

test('long strings are cut in messages', () => {
  const d = describeValue('x'.repeat(500));
  assert.ok(d.length < 120, d);
  assert.match(d, /… \(500 chars\)$/);
});

test('Kubernetes objects: KubeObjectError names the object as Kind ns/name, with a fallback kind for list items', () => {
  const pod = { kind: 'Pod', metadata: { namespace: 'demo', name: 'web' }, spec: { hostNetwork: 'yes' } };
  assert.equal(describeObject(pod), 'Pod demo/web');
  assert.equal(describeObject({ metadata: { name: 'demo' } }, 'Namespace'), 'Namespace demo');
  assert.equal(describeObject('junk'), '<unknown kind> <unnamed>');
  assert.throws(
    () => kubeObjectReader(describeObject(pod)).optBoolean(pod.spec.hostNetwork, 'spec.hostNetwork'),
    (err: unknown) =>
      err instanceof KubeObjectError &&
      err.code === 'INVALID_OBJECT' &&
      err.object === 'Pod demo/web' &&
      err.field === 'spec.hostNetwork' &&
      err.message === 'Pod demo/web: spec.hostNetwork: must be a boolean, got "yes"',
  );
});
