import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildPlugin, netConf, podEnv, runPluginBin } from '../../testing/plugin-harness.ts';

before(buildPlugin);

const POD = { namespace: 'plain', name: 'legacy' };

async function cniError(
  env: Record<string, string>,
  stdin: string,
): Promise<{ code: number; msg: string; details: string; cniVersion: string }> {
  const out = await runPluginBin(env, stdin);
  assert.notEqual(out.exitCode, 0, `expected failure, got ${out.stdout}`);
  const err = JSON.parse(out.stdout) as { code: number; msg: string; details: string; cniVersion: string };
  assert.deepEqual(Object.keys(err).sort(), ['cniVersion', 'code', 'details', 'msg']);
  return err;
}

test('malformed stdin is code 6 naming the problem', async () => {
  const notJson = await cniError(podEnv('ADD', POD), '{"cniVersion": "1.0.0",');
  assert.equal(notJson.code, 6);
  assert.match(notJson.msg, /not valid JSON/);
  const empty = await cniError(podEnv('ADD', POD), '');
  assert.equal(empty.code, 6);
  assert.match(empty.msg, /stdin is empty/);
  const array = await cniError(podEnv('DEL', POD), '[1,2]');
  assert.equal(array.code, 6);
  assert.match(array.msg, /not a JSON object/);
});

test('missing or unknown CNI_COMMAND, or a missing CNI_NETNS on ADD, is code 4', async () => {
  const conf = netConf({ agentSocket: '/nonexistent/agent.sock' });
  const env = podEnv('ADD', POD);
  const { CNI_COMMAND: _drop, ...noCommand } = env;
  assert.match((await cniError(noCommand, conf)).msg, /CNI_COMMAND is not set/);
  assert.equal((await cniError({ ...env, CNI_COMMAND: 'FROB' }, conf)).code, 4);
  const { CNI_NETNS: _netns, ...noNetns } = env;
  const err = await cniError(noNetns, conf);
  assert.equal(err.code, 4);
  assert.match(err.msg, /CNI_NETNS/);
  const { CNI_CONTAINERID: _id, ...noId } = env;
  assert.equal((await cniError({ ...noId, CNI_COMMAND: 'DEL' }, conf)).code, 4);
});

test('bad config fields are code 7, an unsupported cniVersion code 1, ADD without prevResult code 7', async () => {
  const env = podEnv('ADD', POD);
  const noAgent = await cniError(env, netConf({}));
  assert.equal(noAgent.code, 7);
  assert.match(noAgent.msg, /"agentSocket"/);
  assert.match((await cniError(env, netConf({ agentSocket: '/a.sock', timeoutMs: 'soon' }))).msg, /"timeoutMs"/);
  assert.match((await cniError(env, netConf({ agentSocket: '/a.sock', kubeconfig: 'relative/kubeconfig' }))).msg, /"kubeconfig"/);
  const version = await cniError(env, JSON.stringify({ cniVersion: '9.9.9', name: 'ambit', type: 'ambit-cni', agentSocket: '/a.sock' }));
  assert.equal(version.code, 1);
  assert.equal(version.cniVersion, '1.0.0');
  const chained = await cniError(env, netConf({ agentSocket: '/a.sock' }, null));
  assert.equal(chained.code, 7);
  assert.match(chained.msg, /prevResult/);
});

test('errors answer in the config cniVersion', async () => {
  const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'ambit', type: 'ambit-cni', agentSocket: '/a.sock' });
  const err = await cniError(podEnv('ADD', POD), conf);
  assert.equal(err.cniVersion, '0.4.0');
});

test('CHECK with prevResult, GC and STATUS succeed without output', async () => {
  const conf = netConf({ agentSocket: '/nonexistent/agent.sock' });
  for (const command of ['CHECK', 'GC', 'STATUS']) {
    const env = command === 'CHECK' ? podEnv(command, POD) : { CNI_COMMAND: command, CNI_PATH: '/usr/lib/cni' };
    const out = await runPluginBin(env, conf);
    assert.equal(out.exitCode, 0, `${command}: ${out.stdout}`);
    assert.equal(out.stdout, '');
  }
  assert.equal((await cniError(podEnv('CHECK', POD), netConf({ agentSocket: '/a.sock' }, null))).code, 7);
});
