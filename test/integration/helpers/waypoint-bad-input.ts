import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { RunResult } from './ambitctl.ts';
import { nodeCa } from './node-ca.ts';
import type { ClusterDriver, WaypointPod } from './waypoint.ts';

/**
 * How long the waypoint may leave a connection whose request headers never finish before closing it (issue 13 §5:
 * "closed at the header timeout"). The waypoint's header timeout plus slack; AMBIT_WAYPOINT_HEADER_BOUND_MS overrides.
 */
const HEADER_TIMEOUT_BOUND_MS = Number(process.env['AMBIT_WAYPOINT_HEADER_BOUND_MS'] ?? 20_000);

export interface BadInputContext {
  readonly driver: ClusterDriver;
  readonly ns: string;
  readonly waypoint: WaypointPod;
  readonly work: string;
  readonly svcVip: string;
}

/**
 * Issue 13 §5 through the waypoint, each case on its own connection from the client pod (nc sends the exact bytes and
 * waits, without half-closing, until the far end closes), with good requests on other connections at the same time.
 */
export async function badInputChecks(t: TestContext, c: BadInputContext): Promise<void> {
  const { driver: k, ns } = c;
  /** Sends `bytes` to svc:80 and waits for the waypoint to answer and close (at most `idleSeconds` of silence). */
  const raw = (bytes: string, idleSeconds = 8): Promise<RunResult> =>
    k.exec(ns, 'client', ['nc', '-q', '-1', '-w', String(idleSeconds), 'svc', '80'], { input: bytes, timeoutMs: 120_000 });
  const good = async (what: string): Promise<void> => {
    const r = await k.exec(ns, 'client', [
      'curl',
      '-sS',
      '--max-time',
      '10',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://svc/good/${what}`,
    ]);
    assert.equal(r.stdout, '200', `a good request (${what}) on another connection: ${r.stderr}`);
  };
  const closedWithStatus = (r: RunResult, status: number, what: string): void => {
    assert.match(r.stdout, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: ${JSON.stringify(r.stdout.slice(0, 200))} ${r.stderr}`);
    assert.ok(r.ms < 6000, `${what}: the waypoint closed the connection (${r.ms} ms; nc waits 8 s of silence)`);
  };

  // Opened first and left hanging: it runs while every other case and good request goes on.
  const started = Date.now();
  const unfinished = raw('GET /never-finished HTTP/1.1\r\nhost: svc\r\nx-partial: yes\r\n', Math.ceil(HEADER_TIMEOUT_BOUND_MS / 1000) + 30);

  await good('before');
  closedWithStatus(await raw('THIS IS NOT HTTP\r\n\r\n'), 400, 'malformed request line');
  await good('after-400');
  closedWithStatus(await raw(`GET / HTTP/1.1\r\nhost: svc\r\nx-big: ${'a'.repeat(128 * 1024)}\r\n\r\n`), 431, 'a 128 KiB header');
  await good('after-431');
  closedWithStatus(
    await raw('POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'),
    400,
    'Content-Length with Transfer-Encoding',
  );
  closedWithStatus(
    await raw('POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!'),
    400,
    'two Content-Lengths',
  );
  await good('after-smuggling');

  // 1 000 CONNECT streams on one HBONE connection, from a pod outside the mesh with a mesh certificate.
  // A certificate for the client's identity, from the CA as node1's ztunnel asks for it (the client runs there).
  const ca = await nodeCa(k.paths, 'node1', c.work);
  const prefix = join(c.work, 'flood');
  const issued = await ca.ask(`spiffe://cluster.local/ns/${ns}/sa/client`, prefix);
  assert.ok(issued.ok, `the CA issues the client's certificate: ${issued.error ?? ''}`);
  const [flood] = await Promise.all([
    k.appJson<{
      maxConcurrentStreams: number | null;
      opened: number;
      refused: number;
      otherErrors: number;
      pending: number;
      peakOpen: number;
    }>('plain', 'outsider', 'hbone-streams.mjs', [
      `${c.waypoint.ip}:15008`,
      `${c.svcVip}:80`,
      '1000',
      `${prefix}-cert.pem`,
      `${prefix}-key.pem`,
    ]),
    good('during-flood'),
  ]);
  t.diagnostic(`1000 streams on one tunnel: ${JSON.stringify(flood)}`);
  assert.ok(typeof flood.maxConcurrentStreams === 'number' && flood.maxConcurrentStreams < 1000, 'the waypoint advertises a stream limit');
  assert.ok(flood.opened > 0, 'streams within the limit open');
  assert.ok(flood.peakOpen <= flood.maxConcurrentStreams, `at most the advertised ${flood.maxConcurrentStreams} streams were open at once`);
  await good('after-flood');

  const hung = await unfinished;
  const closedAfter = Date.now() - started;
  t.diagnostic(`unfinished headers: closed after ${closedAfter} ms with ${JSON.stringify(hung.stdout.slice(0, 40))}`);
  assert.ok(hung.ms < HEADER_TIMEOUT_BOUND_MS, `headers never finished: the waypoint closed the connection after ${hung.ms} ms`);
  assert.match(hung.stdout, /^(HTTP\/1\.1 408 |$)/, 'a 408 or nothing');
  await good('at-the-end');
}
