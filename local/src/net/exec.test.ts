import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '@ambit/core';
import { CommandFailedError, SYSTEM_PATH, resolveExecutable, run, runRaw } from './exec.ts';

test('run resolves with output on exit 0 and feeds stdin', async () => {
  const r = await run(['sh', '-c', 'cat; echo " out"; echo err >&2'], { input: 'in' });
  assert.equal(r.stdout, 'in out\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.exitCode, 0);
});

test('a failing command rejects with COMMAND_FAILED naming the command line, exit code and stderr', async () => {
  await assert.rejects(run(['sh', '-c', 'echo boom >&2; exit 4', 'arg with space']), (err) => {
    assert.ok(err instanceof CommandFailedError);
    assert.ok(hasCode(err, 'COMMAND_FAILED'));
    assert.equal(err.exitCode, 4);
    assert.equal(err.stderr, 'boom\n');
    assert.equal(err.message, "command failed (exit code 4): sh -c 'echo boom >&2; exit 4' 'arg with space': boom");
    return true;
  });
  await assert.rejects(run(['/nonexistent/binary']), (err) => hasCode(err, 'COMMAND_FAILED') && /ENOENT/.test(String(err)));
  await assert.rejects(run(['sleep', '5'], { timeoutMs: 100 }), /killed by SIGKILL/);
});

test('runRaw reports a non-zero exit without rejecting; commands get only the fixed environment', async () => {
  const r = await runRaw(['sh', '-c', 'echo "$PATH|$HOME"; exit 2']);
  assert.equal(r.exitCode, 2);
  assert.equal(r.stdout, `${SYSTEM_PATH}|\n`);
});

test('resolveExecutable follows PATH like execvp and skips directories', () => {
  assert.equal(resolveExecutable('sh', '/nonexistent:/usr/bin'), '/usr/bin/sh');
  assert.equal(resolveExecutable('bin', '/usr'), undefined);
  assert.equal(resolveExecutable('/usr/bin/sh'), '/usr/bin/sh');
  assert.equal(resolveExecutable('no-such-command-xyz'), undefined);
});
