// Test support for the agent tests: the agent's logger, a raw CNI client, and pod namespaces with addresses. The agent
// itself runs against the local cluster's real API server in test/integration (helpers/agent-harness.ts): a
// component's tests never import @ambit/local.
import { request } from 'node:http';
import { createLogger, silentLogger, type Logger } from '@ambit/core';
import type { CaptureNetnsFixture } from './capture-netns.ts';

export const NODE = 'node1';

/** Logs of the agent under test: silent unless AMBIT_TEST_LOG names a level (then JSON lines on stderr). */
export function testLogger(): Logger {
  const level = process.env['AMBIT_TEST_LOG'];
  return level === undefined || level === '' ? silentLogger() : createLogger('agent-test', { level, destination: 2 });
}

/**
 * Pod addresses for this test process: 10.213.<pid-derived>.n keeps concurrently running test files (each its own
 * process) from putting the same address in two namespaces, which the agent would rightly refuse as ambiguous.
 */
export function podIp(n: number): string {
  return `10.213.${process.pid % 250}.${n}`;
}

export interface CniAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One request to the agent's CNI socket, the body sent as given (a string is sent verbatim). */
export function cniCall(socketPath: string, path: string, body: unknown, method = 'POST'): Promise<CniAnswer> {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path,
        method,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`agent answered ${res.statusCode ?? 0} with a body that is not JSON: ${text}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Creates a fixture namespace holding `ip` (on its loopback, /32: local like a pod's eth0 address); returns its path. */
export function addPodNetns(fx: CaptureNetnsFixture, short: string, ip: string): string {
  const name = fx.add(short);
  fx.exec(short, ['ip', 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
  return `/run/netns/${name}`;
}

/** The ADD body the plugin sends for a pod. */
export function addBody(
  pod: { name: string; namespace: string; uid?: string },
  netns: string,
  ip: string,
  containerId = `c-${pod.name}`,
): Record<string, unknown> {
  return {
    ...(pod.uid === undefined ? {} : { podUid: pod.uid }),
    podName: pod.name,
    podNamespace: pod.namespace,
    netns,
    containerId,
    ifName: 'eth0',
    ips: [ip],
  };
}
