// The state file: atomic, private, reloadable; a bad file is moved aside rather than crash-looping the agent.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { AgentState, parseStateFile, type EnrolledPod } from './agent-state.ts';
import { testLogger } from '../../testing/agent-harness.ts';

const pod = (name: string, containerId?: string): EnrolledPod => ({
  uid: `uid-${name}`,
  name,
  namespace: 'ns',
  serviceAccount: 'sa',
  netns: `/run/netns/${name}`,
  ips: ['10.0.0.1'],
  ...(containerId === undefined ? {} : { containerId }),
});

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tagent-st-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('saved state loads back the same, from a file of mode 0600 in a created directory, with no temporary left', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'sub', 'state.json');
  const state = await AgentState.load(path, testLogger());
  assert.deepEqual(state.all(), [], 'a missing file is an empty state');
  state.put(pod('a', 'sandbox-a'));
  state.put(pod('b'));
  // Concurrent saves are serialised and the last one wins with the full state.
  await Promise.all([state.save(), state.save(), state.save()]);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(join(dir, 'sub')), ['state.json']);
  const again = await AgentState.load(path, testLogger());
  assert.deepEqual(again.all(), [pod('a', 'sandbox-a'), pod('b')]);
  again.delete('uid-a');
  await again.save();
  assert.deepEqual(parseStateFile(await readFile(path, 'utf8')), [pod('b')]);
});

test('a state file that does not parse is moved aside and the agent starts empty', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  await writeFile(path, '{"version":1,"pods":[{"uid":"x"}]}');
  const state = await AgentState.load(path, testLogger());
  assert.deepEqual(state.all(), []);
  assert.deepEqual((await readdir(dir)).sort(), ['state.json.bad']);
});

test('parse errors name the entry and the field', () => {
  assert.throws(() => parseStateFile('{"version":2,"pods":[]}'), /field version must be 1/);
  assert.throws(() => parseStateFile('{"version":1}'), /field pods must be a list/);
  assert.throws(
    () => parseStateFile(JSON.stringify({ version: 1, pods: [{ ...pod('a'), netns: '' }] })),
    /pods\[0\]: field netns must be a non-empty string/,
  );
  assert.throws(
    () => parseStateFile(JSON.stringify({ version: 1, pods: [pod('a'), { ...pod('b'), containerId: 7 }] })),
    /pods\[1\]: field containerId/,
  );
});

test('a DEL finds its enrolment by sandbox id; by name only an enrolment that never had a sandbox id', async (t) => {
  const state = await AgentState.load(join(await tempDir(t), 'state.json'), testLogger());
  state.put(pod('cni', 'sandbox-new'));
  state.put(pod('labelled'));
  assert.equal(state.findForDel('sandbox-new', 'ns', 'cni')?.uid, 'uid-cni');
  // The DEL of an older sandbox of the same pod must not release the newer one.
  assert.equal(state.findForDel('sandbox-old', 'ns', 'cni'), undefined);
  assert.equal(state.findForDel('any', 'ns', 'labelled')?.uid, 'uid-labelled');
  assert.equal(state.findForDel('any', undefined, undefined), undefined);
});
