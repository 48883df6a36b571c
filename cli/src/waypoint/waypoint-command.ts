import { HELP } from '../help.ts';
import { kubeTarget } from '../kube-target.ts';
import { parseWaypointArgs } from './waypoint-args.ts';
import { applyWaypoint, deleteWaypoints, generateWaypoint, listWaypoints, waypointStatus, type WaypointIo } from './waypoint-commands.ts';

/** What main.ts reads from the environment for these commands (STYLE rule 2: main is the only reader). */
export interface WaypointEnv {
  /** $AMBIT_CLUSTER: the local cluster when neither --cluster nor --kubeconfig is given (default "local"). */
  readonly cluster: string | undefined;
  readonly stateRoot: string;
}

/** `ambitctl waypoint …`: the exit code. */
export async function waypointCommand(argv: readonly string[], env: WaypointEnv): Promise<number> {
  const cmd = parseWaypointArgs(argv);
  if (cmd.verb === 'help') {
    process.stdout.write(`${HELP['waypoint']}\n`);
    return cmd.topic === undefined && argv.length === 0 ? 1 : 0;
  }
  const io = (): WaypointIo => {
    const target = kubeTarget(cmd.target.kubeconfig, cmd.target.cluster ?? env.cluster ?? 'local', env.stateRoot);
    return { api: target.client, defaultNamespace: target.namespace ?? 'default', out: process.stdout, err: process.stderr };
  };
  switch (cmd.verb) {
    case 'apply':
      return applyWaypoint(io(), cmd);
    case 'generate':
      return generateWaypoint(process.stdout, cmd);
    case 'list':
      return listWaypoints(io(), cmd);
    case 'status':
      return waypointStatus(io(), cmd);
    case 'delete':
      return deleteWaypoints(io(), cmd);
  }
}
