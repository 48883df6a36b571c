import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AmbitError, asRecord, isRecord } from '@ambit/core';
import { apiRequest, type KubeList } from '../api-client.ts';
import { formatTable } from '../table.ts';
import { readyRunner, type LocalContext } from '../local/context.ts';

export interface ModelDump {
  readonly workloads: ReadonlyArray<Record<string, unknown>>;
  readonly services: ReadonlyArray<Record<string, unknown>>;
  readonly authorizations: ReadonlyArray<Record<string, unknown>>;
  /** L7 AuthorizationPolicies (targetRefs) the waypoints enforce; absent from controllers older than issue 14. */
  readonly l7Authorizations?: ReadonlyArray<Record<string, unknown>>;
}

/**
 * `ambitctl debug model`: the controller's computed model. Local cluster: through the controller's debug socket.
 * With --kubeconfig: through the API server's service proxy to ambit-system/ambit-controller:15014, so it works
 * wherever kubectl does.
 */
export async function debugModel(ctx: LocalContext, kubeconfig: string | undefined, output: string | undefined): Promise<void> {
  const model = await fetchModel(ctx, kubeconfig);
  if (output === 'json') {
    ctx.out.write(`${JSON.stringify(model, null, 2)}\n`);
    return;
  }
  if (output !== undefined) throw new AmbitError('BAD_ARGS', `unknown output format "${output}" (use -o json)`);
  const str = (v: unknown): string => (Array.isArray(v) ? v.join(',') : v === undefined ? '' : String(v));
  ctx.out.write(
    `Workloads\n${formatTable(
      ['NAMESPACE', 'NAME', 'ADDRESSES', 'NODE', 'PROTOCOL', 'SERVICE-ACCOUNT', 'STATUS', 'WAYPOINT'],
      model.workloads.map((w) => [
        str(w['namespace']),
        str(w['name']),
        str(w['addresses']),
        str(w['node']),
        str(w['tunnelProtocol']),
        str(w['serviceAccount']),
        str(w['status']),
        waypointName(w['waypoint']),
      ]),
    )}\n\nServices\n${formatTable(
      ['NAMESPACE', 'NAME', 'ADDRESSES', 'PORTS', 'WAYPOINT'],
      model.services.map((s) => [
        str(s['namespace']),
        str(s['name']),
        (Array.isArray(s['addresses']) ? s['addresses'] : []).map((a: { address?: string }) => a.address ?? '').join(','),
        (Array.isArray(s['ports']) ? s['ports'] : [])
          .map((p: { servicePort?: number; targetPort?: number }) => `${p.servicePort}→${p.targetPort || 'named'}`)
          .join(','),
        waypointName(s['waypoint']),
      ]),
    )}\n\nAuthorizations\n${formatTable(
      ['NAMESPACE', 'NAME', 'SCOPE', 'ACTION', 'RULES', 'DRY-RUN'],
      model.authorizations.map((a) => [
        str(a['namespace']),
        str(a['name']),
        str(a['scope']),
        str(a['action']),
        String(Array.isArray(a['rules']) ? a['rules'].length : 0),
        str(a['dryRun']),
      ]),
    )}\n\nL7 authorizations (waypoints)\n${formatTable(
      ['NAMESPACE', 'NAME', 'TARGETS', 'ACTION', 'RULES', 'DRY-RUN'],
      (model.l7Authorizations ?? []).map((a) => [
        str(a['namespace']),
        str(a['name']),
        (Array.isArray(a['targets']) ? (a['targets'] as Array<Record<string, unknown>>) : [])
          .map((t) => (t['kind'] === 'Gateway' ? `Gateway/${str(t['name'])}` : `Service/${str(t['hostname'])}`))
          .join(','),
        str(a['action']),
        String(Array.isArray(a['rules']) ? a['rules'].length : 0),
        str(a['dryRun']),
      ]),
    )}\n`,
  );
}

/** The controller's model as JSON: from the local cluster's debug socket, or through a real cluster's API proxy. */
export async function fetchModel(ctx: LocalContext, kubeconfig: string | undefined): Promise<ModelDump> {
  const text = kubeconfig === undefined ? await fromLocal(ctx) : await fromCluster(kubeconfig);
  return JSON.parse(text) as ModelDump;
}

function waypointName(w: unknown): string {
  if (!isRecord(w)) return '';
  const d = (w as { destination?: { hostname?: string; address?: string } }).destination;
  return d?.hostname ?? d?.address ?? '';
}

async function fromLocal(ctx: LocalContext): Promise<string> {
  readyRunner(ctx);
  const socketPath = join(ctx.paths.stateDir, 'controller', 'debug.sock');
  if (existsSync(socketPath)) return get({ socketPath, path: '/debug/model' }, false);
  return fromControllerPod(ctx);
}

/**
 * Ambit installed from the manifests: the controller is a pod whose debug server listens in its own network namespace
 * (port 15014, as in a cluster), so the request is made from inside that namespace, as `waypoint-config` does.
 */
async function fromControllerPod(ctx: LocalContext): Promise<string> {
  const list = await apiRequest<KubeList>(
    ctx.paths.apiSocket,
    'GET',
    '/api/v1/namespaces/ambit-system/pods?labelSelector=app%3Dambit-controller',
  );
  const pod = list.items.find((p) => asRecord(p['status'])['phase'] === 'Running');
  if (pod === undefined)
    throw new AmbitError('CONTROLLER_DOWN', 'the controller is not running (no running ambit-system/ambit-controller pod)');
  const { netns } = await apiRequest<{ netns: string }>(ctx.paths.apiSocket, 'POST', '/ambit/v1/pod-netns', {
    namespace: 'ambit-system',
    name: pod.metadata.name,
  });
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', netns, 'curl', '-sS', '--fail-with-body', '--max-time', '10', 'http://127.0.0.1:15014/debug/model'],
      { maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) resolve(stdout);
        else
          reject(
            new AmbitError(
              'DEBUG_FAILED',
              `controller pod ${pod.metadata.name} did not answer on :15014: ${stderr.trim() || stdout.trim() || err.message}`,
            ),
          );
      },
    );
  });
}

async function fromCluster(path: string): Promise<string> {
  const doc = parse(readFileSync(path, 'utf8')) as KubeconfigDoc;
  const ctxName = doc['current-context'];
  const context = doc.contexts?.find((c) => c.name === ctxName)?.context;
  const cluster = doc.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === context?.user)?.user;
  if (cluster?.server === undefined) throw new AmbitError('BAD_KUBECONFIG', `${path}: no server for the current context`);
  const url = new URL(`${cluster.server}/api/v1/namespaces/ambit-system/services/http:ambit-controller:15014/proxy/debug/model`);
  const ca = cluster['certificate-authority-data'] === undefined ? undefined : Buffer.from(cluster['certificate-authority-data'], 'base64');
  const headers: Record<string, string> = user?.token === undefined ? {} : { authorization: `Bearer ${user.token}` };
  return get({ hostname: url.hostname, port: url.port, path: url.pathname, headers, ...(ca ? { ca } : {}) }, url.protocol === 'https:');
}

interface KubeconfigDoc {
  readonly 'current-context'?: string;
  readonly contexts?: ReadonlyArray<{ name: string; context: { cluster: string; user: string } }>;
  readonly clusters?: ReadonlyArray<{ name: string; cluster: { server?: string; 'certificate-authority-data'?: string } }>;
  readonly users?: ReadonlyArray<{ name: string; user: { token?: string } }>;
}

function get(opts: Record<string, unknown>, tls: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const send = tls ? httpsRequest : httpRequest;
    const req = send({ ...opts, method: 'GET', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => {
        if ((res.statusCode ?? 500) >= 400) reject(new AmbitError('DEBUG_FAILED', `controller answered ${res.statusCode}: ${body.trim()}`));
        else resolve(body);
      });
    });
    req.on('timeout', () => req.destroy(new AmbitError('DEBUG_FAILED', 'the controller did not answer within 10 s')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? new AmbitError('CONTROLLER_DOWN', 'the controller is not running (its debug socket does not answer)')
          : err,
      );
    });
    req.end();
  });
}
