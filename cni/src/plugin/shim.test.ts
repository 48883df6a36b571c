import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { before, test, type TestContext } from 'node:test';
import { buildPlugin, netConf, podEnv, runPluginBin, socketDir } from '../../testing/plugin-harness.ts';

// The C front end (native/ambit-cni-shim.c): it forwards the invocation to the agent's /v1/cni/exec and relays the
// answer, and hands the invocation to the Node implementation whenever the agent cannot answer.
before(buildPlugin);

interface ExecAgent {
  readonly socketPath: string;
  readonly seen: Array<{ headers: IncomingHttpHeaders; body: string }>;
}

/** An agent whose exec answers `status` with `headers` and `body`. */
async function execAgent(t: TestContext, status: number, headers: Record<string, string>, body: string): Promise<ExecAgent> {
  const socketPath = join(await socketDir(t), 'agent.sock');
  const seen: ExecAgent['seen'] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (d: string) => (text += d));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: text });
      res.writeHead(status, headers).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { socketPath, seen };
}

test('forwards CNI_* as headers and the config as the body, then prints the answer and exits with its code', async (t) => {
  const agent = await execAgent(t, 200, { 'cni-exit-code': '3' }, '{"from":"agent"}');
  const conf = netConf({ agentSocket: agent.socketPath });
  const env = podEnv('ADD', { namespace: 'mesh', name: 'web-1' });
  const out = await runPluginBin(env, conf);
  assert.equal(out.stdout, '{"from":"agent"}');
  assert.equal(out.exitCode, 3);
  assert.equal(agent.seen.length, 1);
  const [req] = agent.seen;
  assert.equal(req?.body, conf);
  assert.equal(req?.headers['cni-command'], 'ADD');
  assert.equal(req?.headers['cni-containerid'], env['CNI_CONTAINERID']);
  assert.equal(req?.headers['cni-netns'], env['CNI_NETNS']);
  assert.equal(req?.headers['cni-ifname'], 'eth0');
  assert.equal(req?.headers['cni-args'], env['CNI_ARGS']);
  assert.equal(req?.headers['cni-path'], '/usr/lib/cni');
});

test('an answer without an exit code, or not 200, falls back to the Node implementation', async (t) => {
  for (const [status, headers] of [
    [200, {}],
    [500, { 'cni-exit-code': '0' }],
  ] as const) {
    const agent = await execAgent(t, status, headers, 'garbage');
    const out = await runPluginBin({ CNI_COMMAND: 'VERSION' }, netConf({ agentSocket: agent.socketPath }, null));
    assert.equal(out.exitCode, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
  }
});

test('no agent socket: the Node implementation answers, with stdin intact', async (t) => {
  const dir = await socketDir(t);
  const out = await runPluginBin({ CNI_COMMAND: 'VERSION' }, netConf({ agentSocket: join(dir, 'absent.sock') }, null));
  assert.equal(out.exitCode, 0, out.stderr);
  assert.match(out.stdout, /"supportedVersions"/);
  const bad = await runPluginBin(podEnv('ADD', { namespace: 'mesh', name: 'x' }), 'not json');
  assert.equal(bad.exitCode, 1);
  assert.equal((JSON.parse(bad.stdout) as { code: number }).code, 6, 'malformed stdin reaches the Node implementation unchanged');
});

test('a CNI_* value with a line break is never put in a header: the Node implementation runs instead', async (t) => {
  const agent = await execAgent(t, 200, { 'cni-exit-code': '0' }, 'from-agent');
  const out = await runPluginBin(
    { CNI_COMMAND: 'VERSION', CNI_ARGS: 'a=b\r\nX-Injected: 1' },
    netConf({ agentSocket: agent.socketPath }, null),
  );
  assert.equal(agent.seen.length, 0);
  assert.match(out.stdout, /"supportedVersions"/);
});
