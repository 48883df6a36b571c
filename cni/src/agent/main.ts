// Entry point of the node agent: `node --import tsx cni/src/agent/main.ts --node NAME --cni-socket PATH
// --ztunnel-socket PATH --state-file PATH [--kubeconfig PATH] [--log-level LEVEL] [--exclude-namespaces a,b]`
// (`--help` prints the usage).
// Reads flags and the environment into a typed config and starts the agent (STYLE rule 2); SIGTERM/SIGINT close it
// and exit 0, leaving every pod's capture rules in place for the next agent to take over — unless, with
// --install-cni, the agent's DaemonSet is being deleted (uninstall-check.ts): then the plugin is un-chained and every
// pod released first.
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger, errorMessage, type Logger } from '@ambit/core';
import { KubeClient } from '@ambit/core/kube';
import { createCniInstaller, KUBECONFIG_FILE, type CniInstaller } from '../install/cni-installer.ts';
import { pluginKubeconfig } from '../install/plugin-kubeconfig.ts';
import { loadKubeConfig, parseAgentFlags, USAGE, type AgentFlags, type CniInstallFlags } from './agent-flags.ts';
import { startAgent } from './agent.ts';
import { daemonSetRemoval } from './uninstall-check.ts';

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
  let kubeConfig: KubeConfig;
  try {
    // In a pod, the kubelet sets KUBERNETES_SERVICE_HOST: the sign that the service account is there to be used.
    kubeConfig = loadKubeConfig(flags.kubeconfig, process.env['KUBERNETES_SERVICE_HOST'] !== undefined);
    agent = await startAgent({ ...flags.options, kubeConfig, log });
  } catch (err) {
    log.fatal({ err: errorMessage(err) }, 'node agent failed to start');
    process.stderr.write(`ambit node agent: cannot start: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  // The downward API gives the agent its pod (deploy/base/node-agent.yaml): how it finds its DaemonSet on SIGTERM.
  const podName = process.env['POD_NAME'];
  const podNamespace = process.env['POD_NAMESPACE'];
  // Ready once pods of this node get captured when they start: the agent serves, and with --install-cni the plugin is
  // chained (istio-cni's readiness is its installed config too), so a DaemonSet rollout means new pods are meshed.
  let ready = false;
  const markReady = (): void => {
    if (ready || flags.readyFile === undefined) return;
    ready = true;
    writeFileSync(flags.readyFile, `${process.pid}\n`);
  };
  let installer: CniInstaller | undefined;
  if (flags.cniInstall === undefined) markReady();
  else {
    try {
      installer = await startCniInstall(flags.cniInstall, flags, kubeConfig, log, markReady);
    } catch (err) {
      log.fatal({ err: errorMessage(err) }, 'CNI install failed');
      process.stderr.write(`ambit node agent: cannot install the CNI plugin: ${errorMessage(err)}\n`);
      await agent.close();
      process.exit(1);
    }
    if (podName === undefined || podNamespace === undefined)
      log.warn('POD_NAME/POD_NAMESPACE not set: the agent cannot tell an uninstall from a restart and never removes the capture');
  }
  const stop = async (signal: string): Promise<void> => {
    log.info({ signal }, 'stopping');
    if (flags.readyFile !== undefined) await rm(flags.readyFile, { force: true });
    const verdict =
      installer !== undefined && podName !== undefined && podNamespace !== undefined && signal === 'SIGTERM'
        ? await daemonSetRemoval(new KubeClient(kubeConfig), podNamespace, podName, log)
        : undefined;
    if (verdict?.removing === true) {
      log.info({ reason: verdict.reason }, 'Ambit is being removed from this node: un-chaining the CNI plugin and releasing every pod');
      // The plugin first, so no new pod is captured while the others are being released.
      await installer?.uninstall();
      await agent.close({ releasePods: true });
      await rm(flags.options.stateFile, { force: true });
    } else {
      if (verdict !== undefined) log.info({ reason: verdict.reason }, 'restart, not uninstall: pods stay captured');
      await installer?.stop();
      await agent.close();
    }
  };
  const onSignal = (signal: string): void => {
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  // Logged once the signals are handled, so whoever waits for it may stop the agent cleanly.
  if (installer !== undefined)
    log.info({ binDir: flags.cniInstall?.binDir, confDir: flags.cniInstall?.confDir }, 'CNI plugin installed and watched');
}

/**
 * Installs the plugin next to the running agent (its socket exists by now, so the plugin's first call finds it) and
 * keeps it installed. The entry names the agent's socket and the plugin's kubeconfig as the node's runtime sees them.
 */
async function startCniInstall(
  cni: CniInstallFlags,
  flags: AgentFlags,
  kc: KubeConfig,
  log: Logger,
  onChained: () => void,
): Promise<CniInstaller> {
  const installer = createCniInstaller({
    binDir: cni.binDir,
    confDir: cni.confDir,
    hostConfDir: cni.hostConfDir,
    sourceBinDir: cni.pluginDir,
    // The Node running this agent: the image's, the one the fallback was built for.
    nodeBinary: process.execPath,
    entry: {
      agentSocket: cni.hostSocket,
      kubeconfig: join(cni.hostConfDir, KUBECONFIG_FILE),
      ...(flags.options.excludeNamespaces === undefined ? {} : { excludeNamespaces: flags.options.excludeNamespaces }),
    },
    kubeconfig: () => pluginKubeconfig(kc),
    stateFile: join(dirname(flags.options.stateFile), 'cni-install.json'),
    log,
    onChained,
  });
  await installer.start();
  return installer;
}

await main();
