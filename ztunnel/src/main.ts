// ztunnel entry point: flags → startZtunnel. In local mode the runner starts one per node inside the node's network
// namespace; in a cluster it is a DaemonSet pod with hostNetwork.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger, DEFAULT_TRUST_DOMAIN, errorMessage } from '@ambit/core';
import { startZtunnel } from './ztunnel.ts';

const USAGE = `usage: ztunnel --node NAME --controller unix:/path|host:port --token-file PATH --agent-socket PATH
         [--ca TARGET] [--root-cert-file PATH] [--trust-domain cluster.local] [--cert-ttl SECONDS] [--drain-seconds 10] [--metrics-port 15020]
         [--readiness-port 15021] [--admin-port 15000]
         [--ready-file PATH] [--exit-with-parent]`;

const { values } = parseArgs({
  options: {
    node: { type: 'string' },
    controller: { type: 'string' },
    ca: { type: 'string' },
    'token-file': { type: 'string' },
    'root-cert-file': { type: 'string' },
    'agent-socket': { type: 'string' },
    'trust-domain': { type: 'string', default: DEFAULT_TRUST_DOMAIN },
    'cert-ttl': { type: 'string' },
    'drain-seconds': { type: 'string', default: '10' },
    'metrics-port': { type: 'string', default: '15020' },
    'readiness-port': { type: 'string', default: '15021' },
    'admin-port': { type: 'string', default: '15000' },
    'ready-file': { type: 'string' },
    'exit-with-parent': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  process.stderr.write(`ztunnel: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function positive(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) fail(`--${flag} must be a positive number, got ${JSON.stringify(text)}`);
  return n;
}

if (values.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const node = values.node ?? fail('--node is required');
const controller = values.controller ?? fail('--controller is required');
const tokenFile = values['token-file'] ?? fail('--token-file is required');
const agentSocket = values['agent-socket'] ?? fail('--agent-socket is required');
const certTtlSeconds = positive('cert-ttl', values['cert-ttl']);
// The mesh root the controller's TLS certificate chains to (the ambit-ca-root-cert ConfigMap, mounted): with it, xDS
// and the CA are spoken over TLS (Istio's ztunnel: XDS_ROOT_CA / CA_ROOT_CA). Read once: a changed root needs a
// restart, as the controller's serving certificate changes only with the root.
const rootCertFile = values['root-cert-file'];
let controllerRootPem: string | undefined;
if (rootCertFile !== undefined) {
  try {
    controllerRootPem = readFileSync(rootCertFile, 'utf8');
  } catch (err) {
    fail(`--root-cert-file ${rootCertFile}: ${errorMessage(err)}`);
  }
  if (!controllerRootPem.includes('-----BEGIN CERTIFICATE-----')) fail(`--root-cert-file ${rootCertFile} holds no PEM certificate`);
}
const drainMs = (positive('drain-seconds', values['drain-seconds']) ?? 10) * 1000;
const metricsPort = positive('metrics-port', values['metrics-port']) ?? 15020;
const readinessPort = positive('readiness-port', values['readiness-port']) ?? 15021;
const adminPort = positive('admin-port', values['admin-port']) ?? 15000;

const log = createLogger('ztunnel', { level: process.env['AMBIT_LOG_LEVEL'] ?? 'info' });
if (values['exit-with-parent'] === true) {
  // Local mode: leave with the runner that supervises us, even when it was SIGKILLed.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}
try {
  const zt = startZtunnel({
    node,
    controllerTarget: controller,
    ...(values.ca !== undefined && { caTarget: values.ca }),
    ...(controllerRootPem !== undefined && { controllerRootPem }),
    tokenFile,
    agentSocket,
    trustDomain: values['trust-domain'] ?? DEFAULT_TRUST_DOMAIN,
    ...(certTtlSeconds !== undefined && { certTtlSeconds }),
    // All addresses of ztunnel's own (node) namespace, for Prometheus; never a pod's.
    metricsListen: { host: '0.0.0.0', port: metricsPort },
    readinessListen: { host: '0.0.0.0', port: readinessPort },
    // Admin can change the log level and shut ztunnel down: localhost only (reference §2).
    adminListen: { host: '127.0.0.1', port: adminPort },
    onQuit: () => stop('quitquitquit'),
    ...(values['ready-file'] !== undefined && { readyFile: values['ready-file'] }),
    log,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, drainMs }, 'draining');
    void zt.shutdown(drainMs).then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  log.fatal({ err: errorMessage(err) }, 'ztunnel failed to start');
  process.stderr.write(`ztunnel: ${errorMessage(err)}\n`);
  process.exit(1);
}
