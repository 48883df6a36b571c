// `ambitctl install | uninstall | check | version`: flags → options, and which cluster: `--kubeconfig PATH` (a real
// cluster, its current context), else the named local cluster through the kubeconfig its runner wrote.
import { parseArgs } from 'node:util';
import { AmbitError } from '@ambit/core';
import { HELP } from '../help.ts';
import { createContext, readyRunner, type LocalContext } from '../local/context.ts';
import { parseSetValues } from './install-values.ts';

/** What main.ts reads from the environment for these commands (STYLE rule 2: main is the only reader). */
export interface InstallEnv {
  /** $AMBIT_CLUSTER: the local cluster when neither --name nor --kubeconfig is given (default "local"). */
  readonly cluster: string | undefined;
  readonly stateRoot: string;
}

export type InstallVerb = 'install' | 'uninstall' | 'check' | 'version';

const DEFAULT_TIMEOUT_SECONDS = 300;

/** The exit code. */
export async function installCommand(verb: InstallVerb, argv: readonly string[], env: InstallEnv): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      kubeconfig: { type: 'string' },
      name: { type: 'string' },
      overlay: { type: 'string' },
      set: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean' },
      'client-side': { type: 'boolean' },
      purge: { type: 'boolean' },
      timeout: { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${HELP[verb]}\n`);
    return 0;
  }
  const allowed: Record<InstallVerb, readonly string[]> = {
    install: ['kubeconfig', 'name', 'overlay', 'set', 'dry-run', 'client-side', 'timeout'],
    uninstall: ['kubeconfig', 'name', 'overlay', 'purge', 'timeout'],
    check: ['kubeconfig', 'name', 'output'],
    version: ['kubeconfig', 'name', 'output'],
  };
  for (const k of Object.keys(values)) {
    if (k !== 'help' && !allowed[verb].includes(k))
      throw new AmbitError('BAD_ARGS', `ambitctl ${verb}: unknown flag --${k} (see ambitctl ${verb} --help)`);
  }
  if (values.kubeconfig !== undefined && values.name !== undefined)
    throw new AmbitError('BAD_ARGS', `--kubeconfig and --name name two clusters: give one`);
  const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : parseSeconds(values.timeout);
  const output = values.output;
  if (output !== undefined && output !== 'json') throw new AmbitError('BAD_ARGS', `-o must be json, got ${JSON.stringify(output)}`);
  const local = values.kubeconfig === undefined;
  // Which cluster, checked only when the command needs one (install --dry-run needs none).
  const localCtx = (): LocalContext => createContext(values.name ?? env.cluster ?? 'local', env.stateRoot);
  const kubeconfig = (): string => {
    if (values.kubeconfig !== undefined) return values.kubeconfig;
    const ctx = localCtx();
    readyRunner(ctx);
    return ctx.paths.kubeconfig;
  };
  // A local cluster gets the local overlay unless told otherwise; a real one the cluster overlay.
  const overlay = values.overlay ?? (local && values['dry-run'] !== true ? 'local' : 'cluster');
  switch (verb) {
    case 'install': {
      const { install } = await import('./install.ts');
      const dryRun = values['dry-run'] === true;
      const set = parseSetValues(values.set ?? []);
      // No cni.hostPathPrefix for a local cluster: its CNI runtime runs the plugins a node agent installs seeing the
      // node's own directories at their node paths (local/src/net/cni.ts), as a real node's runtime does.
      await install({
        ...(dryRun ? {} : { kubeconfig: kubeconfig() }),
        overlay,
        values: set,
        dryRun,
        clientSide: values['client-side'] === true,
        timeoutSeconds,
        out: process.stdout,
      });
      return 0;
    }
    case 'uninstall': {
      const { uninstall } = await import('./install.ts');
      await uninstall({ kubeconfig: kubeconfig(), overlay, purge: values.purge === true, timeoutSeconds, out: process.stdout });
      return 0;
    }
    case 'check': {
      const { check } = await import('./check.ts');
      return check({ kubeconfig: kubeconfig(), json: output === 'json', out: process.stdout });
    }
    case 'version': {
      const { version } = await import('./version.ts');
      return version({ kubeconfig: kubeconfig(), json: output === 'json', out: process.stdout });
    }
  }
}

function parseSeconds(v: string): number {
  const m = /^([0-9]+)(s|m)?$/.exec(v);
  if (m === null || Number(m[1]) < 1)
    throw new AmbitError('BAD_ARGS', `--timeout must be a positive duration like 300s or 5m, got ${JSON.stringify(v)}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}
