// Waypoint entry point: flags and environment → typed config → startWaypoint (STYLE rule 2: nothing else reads env).
// In a cluster the Deployment the controller writes runs `ambit waypoint` (the image entrypoint) with these flags; in local mode it runs this
// file with Node inside the waypoint pod's network namespace.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger, DEFAULT_TRUST_DOMAIN, errorMessage } from '@ambit/core';
import { startWaypoint, type WaypointAppConfig } from './app.ts';
import type { CaCredential } from './identity/waypoint-identity.ts';

const USAGE = `usage: waypoint --controller unix:/path|host:port --gateway-name NAME
         [--trust-domain cluster.local] [--ca-token-file PATH] [--root-cert-file PATH] [--exit-with-parent]
         [--drain-seconds 5] [--cert-ttl SECONDS]
environment: POD_NAME, POD_NAMESPACE, POD_IP, SERVICE_ACCOUNT (downward API); AMBIT_CA_TOKEN when no --ca-token-file;
             AMBIT_LOG_LEVEL (default info)
ports: 15008 HBONE (all addresses), 15020 metrics, 15021 readiness (/healthz/ready), 127.0.0.1:15000 admin (/config_dump)`;

function fail(message: string): never {
  process.stderr.write(`waypoint: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function positive(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) fail(`--${flag} must be a positive number, got ${JSON.stringify(text)}`);
  return n;
}

function parseFlags() {
  try {
    return parseArgs({
      options: {
        controller: { type: 'string' },
        'gateway-name': { type: 'string' },
        'trust-domain': { type: 'string' },
        'ca-token-file': { type: 'string' },
        'root-cert-file': { type: 'string' },
        'drain-seconds': { type: 'string' },
        'cert-ttl': { type: 'string' },
        'exit-with-parent': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    return fail(errorMessage(err));
  }
}
const values = parseFlags();

if (values.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined || v === '') fail(`environment variable ${name} is required (the Deployment sets it from the downward API)`);
  return v;
};

const controller = values.controller ?? fail('--controller is required');
const gatewayName = values['gateway-name'] ?? fail('--gateway-name is required');
const podName = env('POD_NAME');
const podNamespace = env('POD_NAMESPACE');
const podIp = env('POD_IP');
const serviceAccount = env('SERVICE_ACCOUNT');
const tokenFile = values['ca-token-file'];
const inlineToken = process.env['AMBIT_CA_TOKEN'];
const caCredential: CaCredential =
  tokenFile !== undefined
    ? { file: tokenFile }
    : inlineToken !== undefined && inlineToken !== ''
      ? { value: inlineToken }
      : fail('a CA credential is required: --ca-token-file PATH, or AMBIT_CA_TOKEN');
const drainMs = (positive('drain-seconds', values['drain-seconds']) ?? 5) * 1000;
// Over TCP the controller speaks TLS with a certificate from the mesh CA: the root file (the ambit-ca-root-cert
// ConfigMap) verifies it. Read once: the serving certificate changes only with the root. A unix socket is plaintext.
const rootCertFile = values['root-cert-file'];
let controllerRootPem: string | undefined;
if (rootCertFile !== undefined && !controller.startsWith('unix:')) {
  try {
    controllerRootPem = readFileSync(rootCertFile, 'utf8');
  } catch (err) {
    fail(`--root-cert-file ${rootCertFile}: ${errorMessage(err)}`);
  }
}
const certTtlSeconds = positive('cert-ttl', values['cert-ttl']);

const log = createLogger('waypoint', { level: process.env['AMBIT_LOG_LEVEL'] ?? 'info' });
// The access log is on the data path: asynchronous writes (STYLE rule 15).
const accessLog = createLogger('waypoint', { level: process.env['AMBIT_LOG_LEVEL'] ?? 'info', async: true }).child({ component: 'access' });

if (values['exit-with-parent'] === true) {
  // Local mode: leave with the runner that supervises us, even when it was SIGKILLed (as ztunnel).
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}

const config: WaypointAppConfig = {
  controllerTarget: controller,
  gateway: { namespace: podNamespace, name: gatewayName },
  trustDomain: values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN,
  podName,
  podIp,
  serviceAccount,
  caCredential,
  ...(rootCertFile === undefined ? {} : { rootCertFile }),
  ...(controllerRootPem === undefined ? {} : { controllerRootPem }),
  ...(certTtlSeconds === undefined ? {} : { certTtlSeconds }),
  // HBONE on every address of the pod; the pod's namespace is the waypoint's own. IPv4 (as ztunnel's own ports): a
  // pod namespace with IPv6 disabled cannot bind '::'.
  hboneListen: { host: '0.0.0.0', port: 15008 },
  metricsListen: { host: '0.0.0.0', port: 15020 },
  readinessListen: { host: '0.0.0.0', port: 15021 },
  // Admin can shut the waypoint down: localhost only (reference §2).
  adminListen: { host: '127.0.0.1', port: 15000 },
  onQuit: () => stop('quitquitquit'),
  log,
  accessLog,
};

let stop: (why: string) => void = () => process.exit(0);
startWaypoint(config).then(
  (app) => {
    let stopping = false;
    stop = (why) => {
      if (stopping) return;
      stopping = true;
      log.info({ why, drainMs }, 'draining');
      void app.shutdown(drainMs).then(() => {
        log.info('stopped');
        accessLog.flush();
        process.exit(0);
      });
    };
    log.info({ gateway: `${podNamespace}/${gatewayName}`, pod: podName, listening: app.listening() }, 'waypoint started');
  },
  (err: unknown) => {
    log.fatal({ err: errorMessage(err) }, 'waypoint failed to start');
    process.stderr.write(`waypoint: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
