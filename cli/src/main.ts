import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AmbitError, errorMessage } from '@ambit/core';
import { DEFAULT_STATE_ROOT, ManifestError } from '@ambit/local';
import { debugModel } from './debug/model.ts';
import { policyExplain } from './policy/explain.ts';
import { parseExplainArgs } from './policy/explain-args.ts';
import { ztunnelConfig } from './ztunnel/ztunnel-config.ts';
import { HELP } from './help.ts';
import { applyPath } from './local/apply.ts';
import { createContext, readyRunner, type LocalContext } from './local/context.ts';
import { down } from './local/down.ts';
import { execInNode, execInPod } from './local/exec.ts';
import { get } from './local/get.ts';
import { logs } from './local/logs.ts';
import { up } from './local/up.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } };

const OPTIONS: Record<string, Options> = {
  up: { filename: { type: 'string', short: 'f' }, nodes: { type: 'string' }, timeout: { type: 'string' }, 'cert-ttl': { type: 'string' } },
  down: {},
  get: { namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' } },
  exec: { namespace: { type: 'string', short: 'n' } },
  'node-exec': {},
  apply: { filename: { type: 'string', short: 'f' } },
  delete: { filename: { type: 'string', short: 'f' } },
  logs: { namespace: { type: 'string', short: 'n' }, container: { type: 'string', short: 'c' }, follow: { type: 'boolean', short: 'f' } },
  kubeconfig: {},
};

/** Exit code of the command; env is read here and nowhere else (STYLE rule 2). */
async function main(argv: string[]): Promise<number> {
  const [group, command, ...rest] = argv;
  if (group === undefined || group === '--help' || group === '-h' || group === 'help') {
    process.stdout.write(`${HELP['root']}\n`);
    return group === undefined ? 1 : 0;
  }
  if (group === 'debug') return debugCommand(command, rest);
  if (group === 'policy') return policyCommand(command, rest);
  if (group === 'ztunnel-config') return ztunnelConfigCommand(command, rest);
  if (group === 'waypoint')
    // Loaded on demand: the waypoint commands reach the API through @kubernetes/client-node, whose load alone costs
    // about a second, which every other command (`local exec` above all) would otherwise pay.
    return (await import('./waypoint/waypoint-command.ts')).waypointCommand(argv.slice(1), {
      cluster: process.env['AMBIT_CLUSTER'],
      stateRoot: process.env['AMBIT_STATE_ROOT'] ?? DEFAULT_STATE_ROOT,
    });
  if (group === 'waypoint-config') return waypointConfigCommand(command, rest);
  if (group === 'install' || group === 'uninstall' || group === 'check' || group === 'version')
    // Loaded on demand, like waypoint: check and version read the API through @kubernetes/client-node.
    return (await import('./install/install-command.ts')).installCommand(group, argv.slice(1), {
      cluster: process.env['AMBIT_CLUSTER'],
      stateRoot: process.env['AMBIT_STATE_ROOT'] ?? DEFAULT_STATE_ROOT,
    });
  if (group !== 'local') throw new AmbitError('BAD_ARGS', `unknown command "${group}" (see ambitctl --help)`);
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${HELP['root']}\n`);
    return command === undefined ? 1 : 0;
  }
  const spec = OPTIONS[command];
  if (spec === undefined) throw new AmbitError('BAD_ARGS', `unknown command "local ${command}" (see ambitctl --help)`);
  // Everything after `--` belongs to the command being run, never to ambitctl.
  const dash = rest.indexOf('--');
  const own = dash === -1 ? rest : rest.slice(0, dash);
  const passthrough = dash === -1 ? [] : rest.slice(dash + 1);
  const { values, positionals } = parseArgs({ args: own, options: { ...COMMON, ...spec }, allowPositionals: true, strict: true });
  if (values['help'] === true) {
    process.stdout.write(`${HELP[command] ?? HELP['root']}\n`);
    return 0;
  }
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const name = str('name') ?? process.env['AMBIT_CLUSTER'] ?? 'local';
  const ctx = createContext(name, process.env['AMBIT_STATE_ROOT'] ?? DEFAULT_STATE_ROOT);
  return run(ctx, command, positionals, passthrough, str, values['follow'] === true);
}

async function ztunnelConfigCommand(kind: string | undefined, rest: string[]): Promise<number> {
  if (kind === undefined || kind === '--help' || kind === '-h') {
    process.stdout.write(`${HELP['ztunnel-config']}\n`);
    return kind === undefined ? 1 : 0;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      output: { type: 'string', short: 'o' },
      node: { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(`${HELP['ztunnel-config']}\n`);
    return 0;
  }
  const name = values.name ?? process.env['AMBIT_CLUSTER'] ?? 'local';
  const ctx = createContext(name, process.env['AMBIT_STATE_ROOT'] ?? DEFAULT_STATE_ROOT);
  await ztunnelConfig(ctx, kind, values.node, values.output);
  return 0;
}

/** `--name` names the waypoint here (as istioctl's waypoint commands); the cluster is `--cluster` or $AMBIT_CLUSTER. */
async function waypointConfigCommand(kind: string | undefined, rest: string[]): Promise<number> {
  if (kind === undefined || kind === '--help' || kind === '-h') {
    process.stdout.write(`${HELP['waypoint-config']}\n`);
    return kind === undefined ? 1 : 0;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      namespace: { type: 'string', short: 'n' },
      name: { type: 'string' },
      cluster: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      output: { type: 'string', short: 'o' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(`${HELP['waypoint-config']}\n`);
    return 0;
  }
  const cluster = values.cluster ?? process.env['AMBIT_CLUSTER'] ?? 'local';
  const ctx = createContext(cluster, process.env['AMBIT_STATE_ROOT'] ?? DEFAULT_STATE_ROOT);
  const { waypointConfig } = await import('./waypoint/waypoint-config.ts');
  await waypointConfig(ctx, kind, { namespace: values.namespace ?? 'default', name: values.name, output: values.output });
  return 0;
}

async function policyCommand(command: string | undefined, rest: string[]): Promise<number> {
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${HELP['policy-explain']}\n`);
    return command === undefined ? 1 : 0;
  }
  if (command !== 'explain') throw new AmbitError('BAD_ARGS', `unknown command "policy ${command}" (see ambitctl --help)`);
  const args = parseExplainArgs(rest);
  if (args.help) {
    process.stdout.write(`${HELP['policy-explain']}\n`);
    return 0;
  }
  const name = args.cluster ?? process.env['AMBIT_CLUSTER'] ?? 'local';
  const ctx = createContext(name, process.env['AMBIT_STATE_ROOT'] ?? DEFAULT_STATE_ROOT);
  await policyExplain(ctx, args);
  return 0;
}

async function debugCommand(command: string | undefined, rest: string[]): Promise<number> {
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${HELP['debug-model']}\n`);
    return command === undefined ? 1 : 0;
  }
  if (command !== 'model') throw new AmbitError('BAD_ARGS', `unknown command "debug ${command}" (see ambitctl --help)`);
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      output: { type: 'string', short: 'o' },
      kubeconfig: { type: 'string' },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(`${HELP['debug-model']}\n`);
    return 0;
  }
  const name = values.name ?? process.env['AMBIT_CLUSTER'] ?? 'local';
  const ctx = createContext(name, process.env['AMBIT_STATE_ROOT'] ?? DEFAULT_STATE_ROOT);
  await debugModel(ctx, values.kubeconfig, values.output);
  return 0;
}

async function run(
  ctx: LocalContext,
  command: string,
  positionals: string[],
  passthrough: string[],
  str: (k: string) => string | undefined,
  follow: boolean,
): Promise<number> {
  const namespace = str('namespace') ?? 'default';
  switch (command) {
    case 'up':
      await up(ctx, {
        dir: str('filename') ?? 'examples/demo',
        nodes: positiveInt(str('nodes') ?? '2', '--nodes'),
        timeoutMs: positiveInt(str('timeout') ?? '60', '--timeout') * 1000,
        ...(str('cert-ttl') !== undefined && { certTtlSeconds: positiveInt(str('cert-ttl') ?? '', '--cert-ttl') }),
      });
      return 0;
    case 'down':
      await down(ctx);
      return 0;
    case 'get':
      await get(ctx, needArg(positionals[0], 'nodes|pods|services'), str('namespace'), str('output'));
      return 0;
    case 'exec':
      return execInPod(ctx, namespace, needArg(positionals[0], 'POD'), passthrough);
    case 'node-exec':
      return execInNode(ctx, needArg(positionals[0], 'NODE'), passthrough);
    case 'apply':
    case 'delete':
      await applyPath(ctx, needArg(str('filename'), '-f PATH'), command);
      return 0;
    case 'logs':
      await logs(ctx, namespace, needArg(positionals[0], 'POD'), str('container'), follow);
      return 0;
    case 'kubeconfig':
      readyRunner(ctx);
      ctx.out.write(`${ctx.paths.kubeconfig}\n`);
      return 0;
    default:
      throw new AmbitError('BAD_ARGS', `unknown command "local ${command}"`);
  }
}

function needArg(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw new AmbitError('BAD_ARGS', `missing ${what} (see --help)`);
  return v;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new AmbitError('BAD_ARGS', `${flag} must be a positive integer, got "${v}"`);
  return n;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ManifestError) process.stderr.write(`error: invalid manifests:\n${err.message}\n`);
    else process.stderr.write(`error: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);
