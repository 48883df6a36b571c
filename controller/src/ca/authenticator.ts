import { createHash, timingSafeEqual } from 'node:crypto';
import { CaError } from './ca-error.ts';

/**
 * Who is calling the CA. Two kinds, as in istiod (security/pkg/server/ca/server.go): a node proxy, which may ask on
 * behalf of the pods scheduled on its node (impersonation); and a workload (a waypoint), which may ask for its own
 * identity and nothing else.
 */
export type CallerIdentity = NodeCaller | WorkloadCaller;

/** A node proxy (ztunnel): the node it runs on, and a name for logs. */
export interface NodeCaller {
  readonly kind?: 'node';
  /** Kubernetes node name; authorisation asks whether the requested identity has a pod there. */
  readonly node: string;
  /** e.g. `ambit-system/ztunnel (pod ztunnel-abcde)`; for logs and error messages. */
  readonly caller: string;
}

/** A caller limited to one identity: `spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>`. */
export interface WorkloadCaller {
  readonly kind: 'workload';
  readonly namespace: string;
  readonly serviceAccount: string;
  /** e.g. `mesh/waypoint (pod waypoint-7d9c8-x2k4p)`; for logs and error messages. */
  readonly caller: string;
}

/** Turns a bearer token into a caller, or throws (a CaError, or anything else, which the service treats as a bad token). */
export interface Authenticator {
  authenticate(token: string): Promise<CallerIdentity>;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * Local mode: each node's ztunnel gets its own random credential, written where only it can read it. Tokens are
 * compared as SHA-256 digests with timingSafeEqual, and every entry is compared, so timing reveals neither a prefix
 * nor which entry matched.
 */
export class NodeCredentialAuthenticator implements Authenticator {
  private readonly entries: ReadonlyArray<{ readonly digest: Buffer; readonly node: string }>;

  /** `credentials`: token → node name. Empty tokens are refused: they would match a missing header. */
  constructor(credentials: ReadonlyMap<string, string> | Readonly<Record<string, string>>) {
    const pairs = credentials instanceof Map ? [...credentials] : Object.entries(credentials);
    for (const [token, node] of pairs) {
      if (token === '' || node === '') throw new CaError('CA_MATERIAL_INVALID', 'node credentials need a non-empty token and node name');
    }
    this.entries = pairs.map(([token, node]) => ({ digest: digest(token), node }));
  }

  async authenticate(token: string): Promise<CallerIdentity> {
    const presented = digest(token);
    let node: string | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, presented)) node = entry.node;
    }
    if (node === undefined) throw new CaError('CA_BAD_TOKEN', 'unknown node credential');
    return { node, caller: `node-credential/${node}` };
  }
}
