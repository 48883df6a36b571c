import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { RUNNER_MARKER } from '@ambit/local';
import { netnsWithPrefix, processesWith } from './helpers/ambitctl.ts';

// Runs last (scripts/test.sh orders it): everything the suite created must be gone. Test clusters are named it-*,
// unit tests of the network runtime use prefixes ambit-t*; a developer's own cluster (ambit-local-) is left alone.
test('no namespace, process, mount or /etc/netns entry of the test suite remains', () => {
  const left = [...netnsWithPrefix('ambit-it-'), ...netnsWithPrefix('ambit-t')];
  assert.deepEqual(left, []);
  for (const name of ['it-main', 'it-seal', 'it-kill', 'it-ctl']) {
    assert.deepEqual(processesWith(RUNNER_MARKER, name), [], `runner of ${name}`);
  }
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith('ambit-it-') || n.startsWith('ambit-t')) : [];
  assert.deepEqual(etc, []);
});
