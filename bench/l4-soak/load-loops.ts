import { connectionRate, h2loadFixedRate, iperf3Transfer, type ConnRate, type LatencyRun, type Transfer } from '../l4/load.ts';

/** What the soak runs against the mesh, all at once, from the client pod's network namespace. */
export interface SoakPlan {
  readonly clientNetns: string;
  /** The server pod's address and ports (nginx, conn-server, iperf3). */
  readonly host: string;
  readonly ports: { readonly http: number; readonly conn: number; readonly iperf: number };
  /** Start of the load (performance.now() scale) and how long it lasts. */
  readonly t0Ms: number;
  readonly seconds: number;
  readonly rps: number;
  readonly conns: number;
  readonly bodyFile: string;
  readonly h2loadLog: string;
  /** bench/apps/conn-client.mjs and its number of connect-echo-close loops. */
  readonly connClient: string;
  readonly churnLoops: number;
  /** The churn's cap, connections started per second over all loops; 0: as fast as the loops go. */
  readonly churnMaxPerSec: number;
  /** A transfer of `transferSize` (iperf3 notation) at the middle of every period of `transferEverySec`. */
  readonly transferEverySec: number;
  readonly transferSize: string;
}

/** One back-to-back h2load run of the soak: its result and the connections it opened. */
export interface H2loadSegment extends LatencyRun {
  readonly startSec: number;
  /** Measured seconds (after h2load's warm-up second). */
  readonly seconds: number;
  readonly conns: number;
}

export interface SoakLoadResults {
  readonly h2load: H2loadSegment[];
  readonly churn: ConnRate[];
  readonly transfers: (Transfer & { readonly startSec: number })[];
  /** When the last loop finished, in seconds from the start. */
  readonly endSec: number;
}

/**
 * h2load and conn-client runs are cut into segments of this length: each is a separate process with a known number
 * of connections (the accounting needs that), and the loops notice a failure elsewhere within one segment.
 */
const SEGMENT_SECONDS = 60;
/** h2load's warm-up per segment: the same connections, not counted in its rate or failures. */
const H2LOAD_WARMUP_SECONDS = 1;
/** A segment shorter than this at the end is not started (process start-up would dominate it). */
const MIN_SEGMENT_SECONDS = 5;
/** Room after the last transfer's start, so every transfer ends with the rest of the load around it. */
const TRANSFER_MARGIN_SECONDS = 30;
const TRANSFER_TIMEOUT_MS = 600_000;

/**
 * Runs the soak's three loads side by side until `plan.seconds` have passed: h2load at a fixed rate, connection churn
 * and the periodic transfer. When one fails the others stop after their current segment (so every process the bench
 * started has ended when this returns) and the first failure is thrown.
 */
export async function runSoakLoad(plan: SoakPlan, progress: (msg: string) => void): Promise<SoakLoadResults> {
  const endMs = plan.t0Ms + plan.seconds * 1000;
  const nowSec = (): number => (performance.now() - plan.t0Ms) / 1000;
  const remainingSec = (): number => (endMs - performance.now()) / 1000;
  let failure: { err: unknown } | undefined;
  const out: SoakLoadResults = { h2load: [], churn: [], transfers: [], endSec: 0 };

  const guarded = async (name: string, loop: () => Promise<void>): Promise<void> => {
    try {
      await loop();
    } catch (err) {
      progress(`${name} failed: ${(err as Error).message}`);
      failure ??= { err };
    }
  };

  const h2loadLoop = async (): Promise<void> => {
    while (failure === undefined) {
      const seconds = Math.min(SEGMENT_SECONDS, Math.floor(remainingSec()) - H2LOAD_WARMUP_SECONDS);
      if (seconds < MIN_SEGMENT_SECONDS) return;
      const startSec = nowSec();
      const run = await h2loadFixedRate(plan.clientNetns, `http://${plan.host}:${plan.ports.http}/`, {
        rps: plan.rps,
        conns: plan.conns,
        seconds,
        warmupSeconds: H2LOAD_WARMUP_SECONDS,
        bodyFile: plan.bodyFile,
        logFile: plan.h2loadLog,
      });
      out.h2load.push({ ...run, startSec, seconds, conns: plan.conns });
      const churn = out.churn.at(-1);
      progress(
        `minute ${(nowSec() / 60).toFixed(1)}: ${run.achievedRps.toFixed(1)} rps, ${run.failed} failed, p99 ${(run.p99 / 1000).toFixed(2)} ms` +
          (churn === undefined ? '' : `; churn ${churn.connsPerSec.toFixed(0)} conns/s, ${churn.errors} errors`),
      );
    }
  };

  const churnLoop = async (): Promise<void> => {
    while (failure === undefined) {
      const seconds = Math.min(SEGMENT_SECONDS, Math.floor(remainingSec()));
      if (seconds < MIN_SEGMENT_SECONDS) return;
      const cap = plan.churnMaxPerSec > 0 ? plan.churnMaxPerSec : undefined;
      out.churn.push(await connectionRate(plan.clientNetns, plan.connClient, plan.host, plan.ports.conn, seconds, plan.churnLoops, cap));
    }
  };

  const transferLoop = async (): Promise<void> => {
    for (let k = 0; ; k++) {
      const atSec = (k + 0.5) * plan.transferEverySec;
      if (atSec > plan.seconds - TRANSFER_MARGIN_SECONDS) return;
      // Wait in short steps so a failure elsewhere ends this loop too.
      while (failure === undefined && nowSec() < atSec) await new Promise((r) => setTimeout(r, Math.min(1000, (atSec - nowSec()) * 1000)));
      if (failure !== undefined) return;
      const startSec = nowSec();
      const t = await iperf3Transfer(plan.clientNetns, plan.host, plan.ports.iperf, plan.transferSize, TRANSFER_TIMEOUT_MS);
      out.transfers.push({ ...t, startSec });
      progress(
        `minute ${(startSec / 60).toFixed(1)}: transfer of ${plan.transferSize} at ${t.gbps.toFixed(2)} Gbit/s (${t.seconds.toFixed(1)} s)`,
      );
    }
  };

  await Promise.all([guarded('h2load', h2loadLoop), guarded('churn', churnLoop), guarded('transfer', transferLoop)]);
  if (failure !== undefined) throw failure.err;
  return { ...out, endSec: nowSec() };
}
