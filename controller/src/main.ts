import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { createLogger, errorMessage } from '@ambit/core';
import { startController } from './app.ts';
import type { ControllerConfig } from './config.ts';
// Imported, not read at run time: the bundle (scripts/build-bundle.mjs) carries it, wherever it is installed.
import controllerPackage from '../package.json' with { type: 'json' };

/**
 * ambit-controller. Local mode (what `ambitctl local up` runs): --kubeconfig, --xds-socket, --debug-socket, --ca-dir,
 * --node-credentials. In a cluster: in-cluster credentials, gRPC with TLS on :15012, debug on 127.0.0.1:15014, the
 * CA root in Secret ambit-ca, callers authenticated by TokenReview. Waypoint Deployments run `--waypoint-image`, or in
 * local mode `--waypoint-command '<JSON argv>'` (a program of this checkout, run from the controller's directory).
 */
const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    'xds-socket': { type: 'string' },
    'grpc-port': { type: 'string', default: '15012' },
    'debug-socket': { type: 'string' },
    'debug-port': { type: 'string' },
    'debug-host': { type: 'string' },
    'ca-dir': { type: 'string' },
    'node-credentials': { type: 'string' },
    'trust-domain': { type: 'string', default: 'cluster.local' },
    'cluster-id': { type: 'string', default: 'Kubernetes' },
    'system-namespace': { type: 'string', default: 'ambit-system' },
    'cert-ttl': { type: 'string', default: '86400' },
    'max-cert-ttl': { type: 'string', default: String(90 * 86400) },
    identity: { type: 'string' },
    'exit-with-parent': { type: 'boolean', default: false },
    'waypoint-image': { type: 'string' },
    'waypoint-command': { type: 'string' },
  },
});

function seconds(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`ambit-controller: --${flag} must be a positive number of seconds, got "${String(v)}"\n`);
    process.exit(2);
  }
  return n;
}

function usage(message: string): never {
  process.stderr.write(`ambit-controller: ${message}\n`);
  process.exit(2);
}

function waypointCommand(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  let argv: unknown;
  try {
    argv = JSON.parse(v);
  } catch {
    return usage(`--waypoint-command must be a JSON list of strings (an argv), got ${v.slice(0, 200)}`);
  }
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string' && a !== '')) {
    return usage(`--waypoint-command must be a non-empty JSON list of non-empty strings, got ${v.slice(0, 200)}`);
  }
  return argv as string[];
}

/** The image of this release: the version in the controller's package.json. */
function defaultWaypointImage(): string {
  return `ghcr.io/ambit-dev/ambit:${controllerPackage.version}`;
}

const env = process.env;
const waypointArgv = waypointCommand(values['waypoint-command']);
const config: ControllerConfig = {
  kubeconfig: values.kubeconfig ?? env['KUBECONFIG'],
  identity: values.identity ?? env['POD_NAME'] ?? `${hostname()}-${process.pid}`,
  trustDomain: values['trust-domain'] ?? 'cluster.local',
  clusterId: values['cluster-id'] ?? 'Kubernetes',
  systemNamespace: values['system-namespace'] ?? 'ambit-system',
  grpc:
    values['xds-socket'] !== undefined
      ? { socketPath: values['xds-socket'] }
      : { host: '0.0.0.0', port: seconds('grpc-port', values['grpc-port']) },
  debug:
    values['debug-socket'] !== undefined
      ? { socketPath: values['debug-socket'] }
      : {
          port: values['debug-port'] === undefined ? 15014 : Number(values['debug-port']),
          ...(values['debug-host'] === undefined ? {} : { host: values['debug-host'] }),
        },
  caStore: values['ca-dir'] !== undefined ? { kind: 'file', dir: values['ca-dir'] } : { kind: 'secret' },
  caAuth:
    values['node-credentials'] !== undefined
      ? { kind: 'node-credentials', file: values['node-credentials'] }
      : { kind: 'token-review', audience: 'ambit-ca', trustedAccounts: [`${values['system-namespace'] ?? 'ambit-system'}/ztunnel`] },
  certTtlSeconds: seconds('cert-ttl', values['cert-ttl']),
  maxCertTtlSeconds: seconds('max-cert-ttl', values['max-cert-ttl']),
  logLevel: env['AMBIT_LOG_LEVEL'] ?? 'info',
  waypoint: {
    image: values['waypoint-image'] ?? defaultWaypointImage(),
    ...(waypointArgv === undefined ? {} : { command: { argv: waypointArgv, workingDir: process.cwd() } }),
  },
};

const log = createLogger('ambit-controller', { level: config.logLevel });
if (values['exit-with-parent'] === true) {
  // Local mode: the cluster runner supervises us. If it dies (even by SIGKILL) we are reparented; leave with it
  // rather than run on against a cluster that no longer exists.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      log.warn({ parent }, 'parent runner is gone; exiting');
      process.exit(0);
    }
  }, 1000).unref();
}
try {
  const controller = await startController(config, log);
  const stop = (): void => {
    void controller.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  log.fatal({ err: errorMessage(err) }, 'controller failed to start');
  process.stderr.write(`ambit-controller: ${errorMessage(err)}\n`);
  process.exit(1);
}
