// The node-local API forwarder: TCP on loopback joined to a unix socket, byte for byte, half-close passed on; and the
// program the runner starts (plain `node`, no tsx), with its flags and SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually } from '@ambit/core/testing';
import { startForwarder } from './tcp-unix-forwarder.ts';

const PROGRAM = join(dirname(fileURLToPath(import.meta.url)), '..', 'runner', 'node-api-forwarder.ts');

/** A unix echo server that, once the client half-closes, answers `bye` and ends its side too. */
async function echoServer(t: TestContext): Promise<{ path: string; server: Server }> {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tfwd-'));
  const path = join(dir, 'echo.sock');
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end('bye'));
    // A forwarder that destroys the connection leaves this side writing into a closed socket: not the test's subject.
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  return { path, server };
}

/** Sends `text`, half-closes, and collects everything until the other side ends. */
function exchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
      if (got === text) s.end();
    });
    s.on('end', () => {
      s.end();
      resolve(got);
    });
    s.on('error', reject);
    s.write(text);
  });
}

test('joins each TCP connection to the unix socket, both ways, passing half-close on', async (t) => {
  const echo = await echoServer(t);
  const fwd = await startForwarder({ host: '127.0.0.1', port: 0, socketPath: echo.path });
  t.after(() => fwd.close());
  const big = 'x'.repeat(1024 * 1024);
  assert.equal(await exchange(fwd.port, big), `${big}bye`);
  assert.deepEqual(await Promise.all([exchange(fwd.port, 'a'), exchange(fwd.port, 'b')]), ['abye', 'bbye']);
  await eventually(() => assert.equal(fwd.connections(), 0));
});

test('a unix socket nobody listens on closes the TCP connection; close() ends open connections', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ambit-tfwd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const fwd = await startForwarder({ host: '127.0.0.1', port: 0, socketPath: join(dir, 'nobody.sock') });
  const refused = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: fwd.port });
    s.on('error', (err) => resolve(err.message));
    s.on('close', () => resolve('closed'));
  });
  assert.match(refused, /closed|ECONNRESET/);
  await fwd.close();

  const echo = await echoServer(t);
  const second = await startForwarder({ host: '127.0.0.1', port: 0, socketPath: echo.path });
  const s = connect({ host: '127.0.0.1', port: second.port });
  s.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
  await eventually(() => assert.equal(second.connections(), 1));
  await second.close();
  await closed;
});

test('the program: bad flags exit 2; it serves until SIGTERM, then exits 0', async (t) => {
  const bad = spawn(process.execPath, [PROGRAM, '--listen', 'localhost:80', '--to', '/x.sock'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let badErr = '';
  bad.stderr.setEncoding('utf8').on('data', (d: string) => (badErr += d));
  assert.equal(await new Promise((resolve) => bad.once('exit', resolve)), 2);
  assert.match(badErr, /--listen must be IPv4:PORT/);

  const echo = await echoServer(t);
  const child = spawn(process.execPath, [PROGRAM, '--listen', '127.0.0.1:0', '--to', echo.path], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    // Only this test's own child, by its pid.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const port = await eventually(() => {
    const m = /127\.0\.0\.1:(\d+) ->/.exec(stderr);
    assert.ok(m !== null, stderr);
    return Number(m[1]);
  }, 10_000);
  assert.equal(await exchange(port, 'hello'), 'hellobye');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});
