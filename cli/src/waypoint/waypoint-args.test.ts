import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '@ambit/core';
import { DEFAULT_WAIT_MS, parseDurationMs, parseWaypointArgs } from './waypoint-args.ts';

const target = { kubeconfig: undefined, cluster: undefined };

describe('ambitctl waypoint arguments', () => {
  it('apply: istioctl defaults (name "waypoint", no traffic type, 90 s wait)', () => {
    assert.deepEqual(parseWaypointArgs(['apply']), {
      verb: 'apply',
      namespace: undefined,
      target,
      name: 'waypoint',
      trafficType: undefined,
      enrollNamespace: false,
      overwrite: false,
      wait: false,
      timeoutMs: DEFAULT_WAIT_MS,
      revision: undefined,
    });
  });

  it('apply: every flag, short forms included', () => {
    const cmd = parseWaypointArgs([
      'apply',
      '-n',
      'demo',
      '--name',
      'wp',
      '--for',
      'all',
      '--enroll-namespace',
      '--overwrite',
      '-w',
      '--waypoint-timeout',
      '1m30s',
      '-r',
      'canary',
      '--kubeconfig',
      '/k',
      '--cluster',
      'c1',
    ]);
    assert.deepEqual(cmd, {
      verb: 'apply',
      namespace: 'demo',
      target: { kubeconfig: '/k', cluster: 'c1' },
      name: 'wp',
      trafficType: 'all',
      enrollNamespace: true,
      overwrite: true,
      wait: true,
      timeoutMs: 90_000,
      revision: 'canary',
    });
  });

  it('rejects a bad traffic type, the reserved name "none", an invalid name and stray arguments', () => {
    const bad = (argv: string[], message: RegExp): void =>
      assert.throws(
        () => parseWaypointArgs(argv),
        (err: unknown) => hasCode(err, 'BAD_ARGS') && message.test((err as Error).message),
      );
    bad(['apply', '--for', 'pods'], /invalid traffic type: pods\. Valid options are: \[all none service workload\]/);
    bad(['apply', '--name', 'none'], /'none' is a reserved value/);
    bad(['apply', '--name', 'Bad_Name'], /"Bad_Name" is not a valid waypoint name/);
    bad(['apply', 'extra'], /unexpected argument "extra"/);
    bad(['apply', '--bogus'], /waypoint apply: Unknown option '--bogus'/);
    bad(['apply', '--waypoint-timeout', '90'], /not a positive duration/);
    bad(['list', '-A', '-n', 'x'], /either -A or -n/);
    bad(['frobnicate'], /unknown command "waypoint frobnicate"/);
    bad(['apply', '-n', ''], /--namespace must not be empty/);
  });

  it('an empty --name means the default, as in istioctl', () => {
    const cmd = parseWaypointArgs(['apply', '--name', '']);
    assert.equal(cmd.verb === 'apply' && cmd.name, 'waypoint');
  });

  it('list -A, status with and without --name, generate', () => {
    assert.deepEqual(parseWaypointArgs(['list', '-A']), { verb: 'list', namespace: undefined, target, allNamespaces: true });
    assert.deepEqual(parseWaypointArgs(['status', '-n', 'demo']), {
      verb: 'status',
      namespace: 'demo',
      target,
      name: undefined,
      wait: false,
      timeoutMs: DEFAULT_WAIT_MS,
    });
    const named = parseWaypointArgs(['status', '--name', 'wp', '--wait', '--waypoint-timeout', '5s']);
    assert.equal(named.verb === 'status' && `${named.name} ${named.wait} ${named.timeoutMs}`, 'wp true 5000');
    assert.deepEqual(parseWaypointArgs(['generate', '--for', 'workload']), {
      verb: 'generate',
      namespace: undefined,
      target,
      name: 'waypoint',
      trafficType: 'workload',
    });
  });

  it('delete: names or --all, never both, never neither', () => {
    assert.deepEqual(parseWaypointArgs(['delete', 'a', 'b', '-n', 'x']), {
      verb: 'delete',
      namespace: 'x',
      target,
      names: ['a', 'b'],
      all: false,
    });
    assert.deepEqual(parseWaypointArgs(['delete', '--all']), { verb: 'delete', namespace: undefined, target, names: [], all: true });
    assert.throws(() => parseWaypointArgs(['delete', '--all', 'a']), /cannot name waypoints together with --all/);
    assert.throws(() => parseWaypointArgs(['delete']), /name a waypoint, or delete them all with --all/);
  });

  it('help: bare, --help, and per verb', () => {
    assert.deepEqual(parseWaypointArgs([]), { verb: 'help', topic: undefined });
    assert.deepEqual(parseWaypointArgs(['--help']), { verb: 'help', topic: undefined });
    assert.deepEqual(parseWaypointArgs(['apply', '-h']), { verb: 'help', topic: 'apply' });
  });

  it('durations as Go writes them', () => {
    assert.equal(parseDurationMs('90s'), 90_000);
    assert.equal(parseDurationMs('1m30s'), 90_000);
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('1.5h'), 5_400_000);
    assert.equal(parseDurationMs('90'), undefined);
    assert.equal(parseDurationMs('s'), undefined);
    assert.equal(parseDurationMs('1x'), undefined);
  });
});
