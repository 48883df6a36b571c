import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import { type Backoff, createBackoff, errorMessage, type Logger } from '@ambit/core';
import { SYSTEM_PATH, resolveExecutable } from '../net/exec.ts';
import { type ContainerSetup, wrapContainerArgv } from './container-wrapper.ts';

/**
 * Runs a pod's container as a plain process inside the pod's network namespace, with the kubelet's restart rules
 * (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#restart-policy): exponential back-off between
 * restarts, reset once a run lasted long enough.
 */

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** Mirrors a Kubernetes ContainerState, flattened: `reason` is `Completed`/`Error`/`StartError`/`CrashLoopBackOff`. */
export interface ContainerState {
  readonly phase: 'waiting' | 'running' | 'terminated';
  /** Set when terminated: the exit code, 128+signal when killed, 128 when the command could not start. */
  readonly exitCode?: number;
  readonly reason?: string;
  /** Why it could not start, when reason is `StartError`. */
  readonly message?: string;
  readonly restarts: number;
  /** ISO time the current (or last) run started. */
  readonly startedAt?: string;
}

/** The kubelet's CrashLoopBackOff schedule: no jitter, like the kubelet's. */
export interface RestartBackoffOptions {
  /** Delay before the first restart, ms; default 1000. Doubles per restart. */
  readonly initialMs?: number;
  /** Cap of the delay, ms; default 30 000. */
  readonly maxMs?: number;
  /** A run at least this long resets the delay to `initialMs`, ms; default 10 000. */
  readonly resetAfterMs?: number;
}

export interface ContainerOptions {
  /**
   * Network namespace (name) to run in; undefined runs in the runner's own (host) namespace — only for host-side
   * services of the cluster (the controller), which listen on unix sockets and 127.0.0.1 alone.
   */
  readonly netns: string | undefined;
  /** Container name, for logs. */
  readonly name: string;
  /** argv; `command[0]` is looked up in the container's PATH. */
  readonly command: readonly string[];
  /** The container's whole environment, plus PATH (default SYSTEM_PATH) and HOME (default /root) unless given. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** stdout and stderr are appended here; created with its directory if missing. */
  readonly logFile: string;
  readonly restartPolicy: RestartPolicy;
  readonly log: Logger;
  /** Called on every state change; exceptions it throws are logged and ignored. */
  readonly onState?: (state: ContainerState) => void;
  readonly backoff?: RestartBackoffOptions;
  /**
   * Mounts, read-only root and user/capabilities applied inside the container's own mount namespace before its
   * command is exec'd (container-wrapper.ts); only with a `netns`, whose `ip netns exec` makes that namespace.
   */
  readonly setup?: ContainerSetup;
  /**
   * Where a path of the container's view (its command, PATH, cwd) is on the host, for the checks made before it starts:
   * an image's files are mounted at another path inside it (container-spec.ts `files`). Default: the same path.
   */
  readonly hostPath?: (containerPath: string) => string;
}

export interface ContainerHandle {
  /** PID of the running process (also its process group id), undefined when not running. */
  pid(): number | undefined;
  /** How many times the container was restarted. */
  readonly restarts: number;
  state(): ContainerState;
  /**
   * Stops for good: SIGTERM to the process group, SIGKILL after `gracePeriodMs`; resolves once the process is gone.
   * No restart follows. Safe to call more than once.
   */
  stop(gracePeriodMs: number): Promise<void>;
  /**
   * Ends the current run only, as the kubelet does after a failed liveness or startup probe: SIGTERM to the process
   * group, SIGKILL after `gracePeriodMs`; what follows is the restart policy's (a restart after back-off, or staying
   * terminated). Resolves once the process is gone; nothing to do when it is not running or being stopped.
   */
  kill(gracePeriodMs: number): Promise<void>;
}

/** Starts the container and returns at once; progress is reported through `onState`. */
export function startContainer(options: ContainerOptions): ContainerHandle {
  const container = new Container(options);
  container.start();
  return container;
}

/** Exit code the kubelet reports for a container that never started (containerd's convention). */
const START_ERROR_EXIT_CODE = 128;

class Container implements ContainerHandle {
  private readonly opts: ContainerOptions;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly resetAfterMs: number;
  private child: ChildProcess | undefined;
  private current: ContainerState = { phase: 'waiting', reason: 'ContainerCreating', restarts: 0 };
  /** Restarts since the last run that lasted `resetAfterMs`: what the next delay grows with. */
  private quickExits = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private onGone: (() => void) | undefined;
  private restartCount = 0;

  constructor(options: ContainerOptions) {
    this.opts = options;
    this.log = options.log.child({ component: 'supervisor', container: options.name, netns: options.netns });
    this.backoff = createBackoff({
      initialMs: options.backoff?.initialMs ?? 1000,
      maxMs: options.backoff?.maxMs ?? 30_000,
      jitter: 'none',
    });
    this.resetAfterMs = options.backoff?.resetAfterMs ?? 10_000;
  }

  get restarts(): number {
    return this.restartCount;
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  state(): ContainerState {
    return this.current;
  }

  start(): void {
    const env: Record<string, string> = { ...this.opts.env };
    env['PATH'] ??= SYSTEM_PATH;
    env['HOME'] ??= '/root';
    const [file] = this.opts.command;
    // `ip netns exec` would report a missing command only as its own exit code 1; look it up first so the state
    // says what went wrong, as a container runtime's StartError does.
    const host = this.opts.hostPath ?? ((p: string) => p);
    const hostSearchPath = env['PATH'].split(':').map(host).join(':');
    const executable = file === undefined ? undefined : resolveExecutable(file.includes('/') ? host(file) : file, hostSearchPath);
    if (executable === undefined) {
      this.startFailed(`executable "${String(file)}" not found in PATH ${env['PATH']}`);
      return;
    }
    const ipBinary = resolveExecutable('ip');
    if (ipBinary === undefined && this.opts.netns !== undefined) {
      this.startFailed('"ip" (iproute2) not found');
      return;
    }
    if (this.opts.setup !== undefined && this.opts.netns === undefined) {
      // Without `ip netns exec` there is no private mount namespace: the mounts would land on the host.
      this.startFailed('BUG: a container setup (mounts) needs a network namespace');
      return;
    }
    if (!isDirectory(host(this.opts.cwd))) {
      this.startFailed(`working directory ${this.opts.cwd} does not exist`);
      return;
    }
    let fd: number;
    try {
      mkdirSync(dirname(this.opts.logFile), { recursive: true });
      fd = openSync(this.opts.logFile, 'a');
    } catch (err) {
      this.startFailed(`cannot open log file: ${errorMessage(err)}`);
      return;
    }
    let child: ChildProcess;
    try {
      // `ip netns exec` execs the command in place: the PID is the container's. detached: its own process group,
      // so stop() can signal everything it forked.
      const inner = this.opts.setup === undefined ? this.opts.command : wrapContainerArgv(this.opts.setup, this.opts.command);
      const argv =
        this.opts.netns === undefined
          ? [executable, ...this.opts.command.slice(1)]
          : [ipBinary ?? 'ip', 'netns', 'exec', this.opts.netns, ...inner];
      child = spawn(argv[0] ?? executable, argv.slice(1), {
        // The container's own view is entered by the wrapper (setup.workingDir) once its mounts exist.
        cwd: host(this.opts.cwd),
        env,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } catch (err) {
      this.startFailed(errorMessage(err));
      return;
    } finally {
      closeSync(fd); // The child holds its own copy.
    }
    this.child = child;
    const startedAtMs = Date.now();
    child.once('error', (err) => {
      // spawn itself failed (the process never existed): no 'exit' follows.
      if (this.child !== child) return;
      this.child = undefined;
      this.startFailed(errorMessage(err));
    });
    child.once('spawn', () => {
      this.setState({ phase: 'running', restarts: this.restarts, startedAt: new Date(startedAtMs).toISOString() });
      this.log.info({ pid: child.pid, restarts: this.restarts }, 'container started');
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.killGroup(child.pid, 'SIGKILL');
      const exitCode = code ?? 128 + (signal === null ? 0 : osConstants.signals[signal]);
      const startedAt = new Date(startedAtMs).toISOString();
      this.setState({ phase: 'terminated', exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', restarts: this.restarts, startedAt });
      this.log.info({ pid: child.pid, exitCode, signal, ranMs: Date.now() - startedAtMs }, 'container exited');
      this.afterExit(exitCode, Date.now() - startedAtMs);
    });
  }

  stop(gracePeriodMs: number): Promise<void> {
    this.stopping ??= this.doStop(gracePeriodMs);
    return this.stopping;
  }

  kill(gracePeriodMs: number): Promise<void> {
    const child = this.child;
    const pid = child?.pid;
    if (child === undefined || pid === undefined || this.stopping !== undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const killTimer = setTimeout(() => this.killGroup(pid, 'SIGKILL'), gracePeriodMs);
      // Registered after start()'s own 'exit' listener, so the restart policy has been applied when this resolves.
      child.once('exit', () => {
        clearTimeout(killTimer);
        resolve();
      });
      this.killGroup(pid, 'SIGTERM');
    });
  }

  private async doStop(gracePeriodMs: number): Promise<void> {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (child?.pid === undefined) {
      if (this.current.phase !== 'terminated')
        this.setState({ ...this.current, phase: 'terminated', reason: this.current.reason ?? 'Stopped', restarts: this.restarts });
      return;
    }
    const gone = new Promise<void>((resolve) => {
      this.onGone = resolve;
    });
    this.killGroup(child.pid, 'SIGTERM');
    const killTimer = setTimeout(() => {
      this.log.info({ pid: child.pid, gracePeriodMs }, 'grace period over, killing');
      this.killGroup(child.pid, 'SIGKILL');
    }, gracePeriodMs);
    await gone;
    clearTimeout(killTimer);
  }

  private afterExit(exitCode: number, ranMs: number): void {
    const onGone = this.onGone;
    this.onGone = undefined;
    if (this.stopping !== undefined) {
      onGone?.();
      return;
    }
    const policy = this.opts.restartPolicy;
    if (policy === 'Never' || (policy === 'OnFailure' && exitCode === 0)) return;
    if (ranMs >= this.resetAfterMs) this.quickExits = 0;
    const delayMs = this.backoff.delayMs(++this.quickExits);
    this.setState({ ...this.current, phase: 'waiting', reason: 'CrashLoopBackOff', restarts: this.restarts });
    this.log.info({ delayMs, restarts: this.restarts }, 'restarting after back-off');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping !== undefined) return;
      this.restartCount += 1;
      this.start();
    }, delayMs);
  }

  private startFailed(message: string): void {
    this.log.warn({ err: message }, 'container could not start');
    this.setState({ phase: 'terminated', exitCode: START_ERROR_EXIT_CODE, reason: 'StartError', message, restarts: this.restarts });
    this.afterExit(START_ERROR_EXIT_CODE, 0);
  }

  /**
   * Signals the container's process group. Also used right after the leader exits: what it forked dies with it,
   * as when a container's PID 1 exits, instead of lingering in the pod's namespace.
   */
  private killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the whole group is already gone.
    }
  }

  private setState(state: ContainerState): void {
    this.current = state;
    try {
      this.opts.onState?.(state);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'onState callback threw');
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
