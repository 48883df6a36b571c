import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, errorMessage } from '@ambit/core';
import { cleanupLeftovers } from '../net/cleanup.ts';
import { LocalCluster } from './cluster.ts';
import { RUNNER_MARKER, clusterPaths } from './paths.ts';
import { REPO_ROOT } from '../index.ts';
import { dirname, join } from 'node:path';
import { writeFileSync } from 'node:fs';

/**
 * The cluster runner: a background process started by `ambitctl local up` (argv: the marker, then options). It holds
 * the cluster until SIGTERM/SIGINT, then tears it down. If it dies without teardown, the next `up` or `down` finds
 * its leftovers by prefix and pid file.
 */
const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: {
    name: { type: 'string' },
    'state-dir': { type: 'string' },
    nodes: { type: 'string', default: '2' },
    filename: { type: 'string', short: 'f' },
    'ready-timeout': { type: 'string', default: '60' },
    'cert-ttl': { type: 'string' },
  },
  allowPositionals: true,
});
if (positionals[0] !== RUNNER_MARKER || values.name === undefined || values['state-dir'] === undefined || values.filename === undefined) {
  process.stderr.write(`usage: main.ts ${RUNNER_MARKER} --name NAME --state-dir DIR -f DIR [--nodes N]\n`);
  process.exit(2);
}
const stateDir = resolve(values['state-dir']);
const paths = clusterPaths(values.name, dirname(stateDir));
const log = createLogger('ambit-local', { level: process.env['AMBIT_LOG_LEVEL'] ?? 'info' });
// A developer's (or a test's) override of what waypoint pods run, as a JSON argv: a stand-in, or a profiler wrapper
// (AMBIT_WAYPOINT_NODE_OPTIONS: this checkout's waypoint bundle with Node flags added to the image's).
const waypointNodeOptions = process.env['AMBIT_WAYPOINT_NODE_OPTIONS'] ?? '';
const waypointCommand =
  process.env['AMBIT_WAYPOINT_COMMAND'] ??
  (waypointNodeOptions === ''
    ? undefined
    : JSON.stringify([
        process.execPath,
        '--max-semi-space-size=2',
        '--expose-gc',
        ...waypointNodeOptions.split(/\s+/).filter((x) => x !== ''),
        join(REPO_ROOT, 'waypoint', 'build', 'bundle', 'waypoint.mjs'),
      ]));
const ztunnelNodeOptions = process.env['AMBIT_ZTUNNEL_NODE_OPTIONS'];
// How Ambit is installed (cluster.ts InstallMode): from deploy/overlays/local (default), or not at all (the user does).
const install = process.env['AMBIT_LOCAL_INSTALL'] ?? 'manifests';
if (install !== 'manifests' && install !== 'none') {
  process.stderr.write(`AMBIT_LOCAL_INSTALL must be manifests or none, got ${JSON.stringify(install)}\n`);
  process.exit(2);
}
// AMBIT_LOCAL_GATEWAY_API=none: Gateway API's kinds are served only once their CRDs are applied (cluster.ts gatewayApi).
const gatewayApi = process.env['AMBIT_LOCAL_GATEWAY_API'] ?? 'builtin';
if (gatewayApi !== 'builtin' && gatewayApi !== 'none') {
  process.stderr.write(`AMBIT_LOCAL_GATEWAY_API must be builtin or none, got ${JSON.stringify(gatewayApi)}\n`);
  process.exit(2);
}
const cluster = new LocalCluster({
  paths,
  nodes: Number(values.nodes),
  configDir: resolve(values.filename),
  readyTimeoutMs: Number(values['ready-timeout']) * 1000,
  repoRoot: REPO_ROOT,
  ...(values['cert-ttl'] !== undefined && { certTtlSeconds: Number(values['cert-ttl']) }),
  ...(waypointCommand !== undefined && waypointCommand !== '' && { waypointCommand }),
  ...(ztunnelNodeOptions !== undefined && ztunnelNodeOptions !== '' && { ztunnelNodeOptions }),
  install,
  gatewayApi: gatewayApi === 'builtin',
  log,
});

let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    try {
      await cluster.stop({ keepInfo: code !== 0 });
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'teardown failed; cleaning up by prefix');
      await cleanupLeftovers({ prefix: paths.prefix, stateDir: paths.stateDir, clusterName: paths.name, log }).catch(() => undefined);
    }
  }
  process.exit(code);
}
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

writeFileSync(paths.runnerPid, String(process.pid));
try {
  await cluster.start();
} catch (err) {
  log.error({ err: errorMessage(err) }, 'cluster start failed');
  cluster.fail(err);
  await shutdown(1);
}
