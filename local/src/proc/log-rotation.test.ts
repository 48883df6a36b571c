import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { rotateLogIfLarger } from './log-rotation.ts';

test('a log past its limit is copied to .1 and truncated; a writer holding it with O_APPEND continues at its start', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-logrot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.log');
  const fd = openSync(file, 'a'); // what the supervisor hands the container as stdout/stderr
  t.after(() => closeSync(fd));
  writeSync(fd, 'x'.repeat(60) + '\n');
  assert.equal(rotateLogIfLarger(file, 100), false);
  writeSync(fd, 'y'.repeat(60) + '\n');
  assert.equal(rotateLogIfLarger(file, 100), true);
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(60) + '\n' + 'y'.repeat(60) + '\n');
  assert.equal(readFileSync(file, 'utf8'), '');
  writeSync(fd, 'after\n');
  assert.equal(readFileSync(file, 'utf8'), 'after\n');
  assert.equal(rotateLogIfLarger(join(dir, 'missing.log'), 1), false);
  writeFileSync(file, '');
});
