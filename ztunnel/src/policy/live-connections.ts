import type { Logger } from '@ambit/core';
import type { ConnectionFacts } from '@ambit/core/policy';
import type { MeshState } from '../state/mesh-state.ts';

/** An inbound connection that policy changes must re-check (ztunnel `src/proxy/connection_manager.rs`). */
export interface LiveConnection {
  readonly workloadUid: string;
  readonly facts: ConnectionFacts;
  /** Tears the connection down (resets both sides). */
  close(reason: string): void;
}

export interface LiveConnections {
  /** Tracks a connection until the returned function is called (at close). */
  add(conn: LiveConnection): () => void;
  /** Re-runs authorization for every tracked connection and closes those now denied; returns how many. */
  recheck(): number;
  size(): number;
}

/**
 * Long-lived connections are authorized again whenever policies or workloads change: one that a new policy denies is
 * closed at once, as Istio's ztunnel does ("closed because it's no longer allowed after a policy update").
 */
export function createLiveConnections(state: MeshState, log: Logger): LiveConnections {
  const conns = new Set<LiveConnection>();
  return {
    add(conn) {
      conns.add(conn);
      return () => conns.delete(conn);
    },
    recheck() {
      let closed = 0;
      for (const conn of [...conns]) {
        const workload = state.workloadByUid(conn.workloadUid);
        // A destination that left the model keeps its connections: its pod's own release closes them.
        if (workload === undefined) continue;
        const decision = state.policySetFor(workload).decide(conn.facts);
        if (decision.allow) continue;
        conns.delete(conn);
        closed += 1;
        log.info(
          {
            src: conn.facts.sourceIp,
            srcIdentity: conn.facts.sourceIdentity,
            dst: `${conn.facts.destinationIp}:${conn.facts.destinationPort}`,
            policy: decision.policy,
          },
          `connection closed because it is no longer allowed after a policy update: ${decision.reason}`,
        );
        conn.close(`no longer allowed: ${decision.reason}`);
      }
      return closed;
    },
    size: () => conns.size,
  };
}
