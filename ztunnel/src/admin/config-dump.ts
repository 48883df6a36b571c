import { X509Certificate } from 'node:crypto';
import type { CertManager } from '@ambit/core/identity';
import type { PodDirectory } from '../pods/pod-directory.ts';
import type { MeshState } from '../state/mesh-state.ts';

/** A certificate in the dump (Istio's shape: `{pem, serialNumber, validFrom, expirationTime}`). */
interface CertEntry {
  readonly pem: string;
  readonly serialNumber: string;
  readonly validFrom: string;
  readonly expirationTime: string;
}

function certEntry(pem: string): CertEntry {
  const c = new X509Certificate(pem);
  return {
    pem,
    serialNumber: c.serialNumber,
    validFrom: new Date(c.validFrom).toISOString(),
    expirationTime: new Date(c.validTo).toISOString(),
  };
}

export interface ConfigDumpSources {
  readonly state: MeshState;
  readonly pods: PodDirectory;
  readonly certs: CertManager;
  readonly node: string;
  readonly version: string;
  readonly xdsConnected: () => boolean;
  readonly agentSynced: () => boolean;
}

/**
 * What this ztunnel believes, as `/config_dump` returns it (Istio ztunnel's keys, camelCase): the workloads, services
 * and policies it holds, its certificates with expiry, and the state of each captured pod (`workloadState`).
 * Validated against `ztunnel/schema/config-dump.schema.json` in the tests.
 */
export function configDump(src: ConfigDumpSources): Record<string, unknown> {
  const workloadState: Record<string, unknown> = {};
  for (const p of src.pods.pods()) {
    workloadState[p.info.uid] = {
      info: { name: p.info.name, namespace: p.info.namespace, serviceAccount: p.info.serviceAccount },
      state: 'Up',
      netns: p.info.netns,
      ips: p.info.ips,
    };
  }
  const certificates = src.certs.state().map((s) => {
    const held = src.certs.current(s.identity);
    return {
      identity: s.identity,
      state: s.state,
      tracked: s.tracked,
      failures: s.failures,
      ...(s.nextRefreshAt === undefined ? {} : { nextRefreshAt: s.nextRefreshAt }),
      ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
      certChain: held === undefined ? [] : held.certChain.map(certEntry),
      rootCerts: held === undefined ? [] : held.roots.map(certEntry),
    };
  });
  return {
    version: { component: 'ztunnel', version: src.version },
    config: { node: src.node, xdsConnected: src.xdsConnected(), nodeAgentSynced: src.agentSynced() },
    workloads: src.state.workloads(),
    services: src.state.services(),
    policies: src.state.authorizations(),
    certificates,
    workloadState,
  };
}
