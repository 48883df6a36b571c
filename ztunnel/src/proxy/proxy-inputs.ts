import type { Logger } from '@ambit/core';
import type { CertManager } from '@ambit/core/identity';
import type { PodDirectory } from '../pods/pod-directory.ts';
import type { LiveConnections } from '../policy/live-connections.ts';
import type { MeshState } from '../state/mesh-state.ts';
import type { Telemetry } from '../telemetry/index.ts';

/** This ztunnel's settings that the data path reads. */
export interface ProxyConfig {
  /** This node's name: the xDS node id and the node the CA checks impersonation against. */
  readonly node: string;
  /** Peer certificates must carry a SPIFFE ID in this trust domain; pods' identities are minted in it. */
  readonly trustDomain: string;
}

/**
 * Everything the listeners share, built once by `startZtunnel` before any listener exists and handed, unchanged, to
 * each of them (inbound HBONE, and per pod: outbound, inbound plaintext) and to the pod manager — Istio's ztunnel
 * `ProxyInputs` (`src/proxy.rs`). A listener takes this bundle plus only what is its own (the pod it serves, the
 * HBONE server it hands sockets to); a new listener plugs in the same way. The parts are filled over time (the
 * controller's config into `state`, the node agent's pods into `pods`, certificates into `certs`), but the bundle
 * itself never changes; a listener may derive its own copy (the per-pod logger) without touching the shared one.
 */
export interface ProxyInputs {
  readonly config: ProxyConfig;
  /** Workloads, services and policies from the controller, read at connection time. */
  readonly state: MeshState;
  /** Inbound connections that policy changes re-check. */
  readonly live: LiveConnections;
  /** Workload certificates of the pods' identities. */
  readonly certs: CertManager;
  /** The mesh root PEMs that peers' certificates must chain to (the same array until the roots change). */
  readonly roots: () => readonly string[];
  /** The captured pods, by address. */
  readonly pods: PodDirectory;
  readonly telemetry: Telemetry;
  readonly log: Logger;
}

/**
 * The mesh roots, taken from the certificate of the first pod that has one (every certificate carries the same CA
 * bundle). The same array is returned until the roots change, so TLS contexts keyed on it are rebuilt only then.
 */
export function meshRoots(certs: CertManager, pods: PodDirectory): () => readonly string[] {
  let roots: readonly string[] = [];
  let joined = '';
  return () => {
    for (const pod of pods.pods()) {
      const cert = certs.current(pod.identity);
      if (cert === undefined) continue;
      const j = cert.roots.join('\n');
      if (j !== joined) {
        joined = j;
        roots = cert.roots;
      }
      break;
    }
    return roots;
  };
}
