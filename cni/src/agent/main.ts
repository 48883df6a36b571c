// Entry point of the node agent: `node --import tsx cni/src/agent/main.ts --node NAME --cni-socket PATH
// --ztunnel-socket PATH --state-file PATH [--kubeconfig PATH] [--log-level LEVEL] [--exclude-namespaces a,b]`
// (`--help` prints the usage).
// Reads flags and the environment into a typed config and starts the agent (STYLE rule 2); SIGTERM/SIGINT close it
// and exit 0, leaving every pod's capture rules in place for the next agent to take over.
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger, errorMessage } from '@ambit/core';
import { loadKubeConfig, parseAgentFlags, USAGE, type AgentFlags } from './agent-flags.ts';
import { startAgent } from './agent.ts';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  let flags: AgentFlags;
  try {
    flags = parseAgentFlags(argv);
  } catch (err) {
    process.stderr.write(`ambit node agent: ${errorMessage(err)}\n${USAGE}\n`);
    process.exit(2);
  }
  const log = createLogger('ambit-cni-agent', { level: flags.logLevel });
  let agent;
  try {
    // In a pod, the kubelet sets KUBERNETES_SERVICE_HOST: the sign that the service account is there to be used.
    const kubeConfig: KubeConfig = loadKubeConfig(flags.kubeconfig, process.env['KUBERNETES_SERVICE_HOST'] !== undefined);
    agent = await startAgent({ ...flags.options, kubeConfig, log });
  } catch (err) {
    log.fatal({ err: errorMessage(err) }, 'node agent failed to start');
    process.stderr.write(`ambit node agent: cannot start: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping');
    agent.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

await main();
