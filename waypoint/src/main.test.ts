import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

// The entry point's flag and environment handling (the app itself is tested in-process in app.test.ts).

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const POD_ENV = { POD_NAME: 'waypoint-1', POD_NAMESPACE: 'demo', POD_IP: '10.244.1.3', SERVICE_ACCOUNT: 'waypoint' };

test('--help prints the usage and exits 0', async () => {
  const r = await run(['--help'], {});
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^usage: waypoint --controller unix:\/path\|host:port --gateway-name NAME/);
});

test('missing flags, environment or credential exit 2 with a message naming what is missing', async () => {
  assert.match((await run([], POD_ENV)).stderr, /^waypoint: --controller is required/);
  assert.match(
    (await run(['--controller', 'unix:/x', '--gateway-name', 'w'], {})).stderr,
    /^waypoint: environment variable POD_NAME is required/,
  );
  const noToken = await run(['--controller', 'unix:/x', '--gateway-name', 'w'], POD_ENV);
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /a CA credential is required: --ca-token-file PATH, or AMBIT_CA_TOKEN/);
  const bad = await run(['--controller', 'unix:/x', '--gateway-name', 'w', '--drain-seconds', 'soon'], { ...POD_ENV, AMBIT_CA_TOKEN: 't' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--drain-seconds must be a positive number, got "soon"/);
  assert.match((await run(['--bogus'], POD_ENV)).stderr, /^waypoint: Unknown option '--bogus'/);
});
