import { createHmac, timingSafeEqual } from 'node:crypto';
import { CaError } from './ca-error.ts';
import type { Authenticator, CallerIdentity, WorkloadCaller } from './authenticator.ts';

/** HKDF purpose of the key: a new scheme gets a new purpose, so old credentials stop verifying instead of meaning something else. */
export const WORKLOAD_CREDENTIAL_PURPOSE = 'ambit.dev/workload-credential/v1';
/** Every minted credential starts with this, so an authenticator can tell it from a node credential without trying both. */
export const WORKLOAD_CREDENTIAL_PREFIX = 'ambit-wl1.';

/**
 * Local mode's credential for a workload that asks the CA for its own identity (contract 6: a waypoint, whose
 * Deployment the controller writes): `ambit-wl1.<base64url(namespace/serviceAccount)>.<base64url(HMAC-SHA256)>`,
 * keyed by a key derived from the CA's own material (MeshCa.deriveKey), so every replica mints and accepts the same
 * credential and a restart invalidates nothing. It proves only "the controller minted this for that account"; it
 * is as secret as the Deployment that carries it, which is what a projected token is in a cluster.
 */
export class WorkloadCredentials {
  readonly #key: Buffer;

  /** `key`: 32 bytes from `ca.deriveKey(WORKLOAD_CREDENTIAL_PURPOSE)`. */
  constructor(key: Buffer) {
    if (key.length < 32) throw new CaError('CA_MATERIAL_INVALID', 'a workload credential key needs at least 32 bytes');
    this.#key = key;
  }

  mint(namespace: string, serviceAccount: string): string {
    const account = `${namespace}/${serviceAccount}`;
    return `${WORKLOAD_CREDENTIAL_PREFIX}${Buffer.from(account).toString('base64url')}.${this.#mac(account).toString('base64url')}`;
  }

  /** The account a credential was minted for, or a CaError saying why it is not one of ours. */
  verify(token: string): { namespace: string; serviceAccount: string } {
    const bad = (why: string): never => {
      throw new CaError('CA_BAD_TOKEN', `workload credential ${why}`);
    };
    if (!token.startsWith(WORKLOAD_CREDENTIAL_PREFIX)) bad('has the wrong format');
    const [encoded = '', mac = '', ...rest] = token.slice(WORKLOAD_CREDENTIAL_PREFIX.length).split('.');
    if (rest.length > 0 || encoded === '' || mac === '') bad('has the wrong format');
    const account = Buffer.from(encoded, 'base64url').toString('utf8');
    const [namespace = '', serviceAccount = '', ...more] = account.split('/');
    if (more.length > 0 || namespace === '' || serviceAccount === '') bad('names no namespace/serviceAccount');
    const presented = Buffer.from(mac, 'base64url');
    const expected = this.#mac(account);
    // Lengths first (timingSafeEqual needs equal lengths; the length of a MAC is no secret), then constant time.
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) bad(`for ${account} does not verify`);
    return { namespace, serviceAccount };
  }

  #mac(account: string): Buffer {
    return createHmac('sha256', this.#key).update(account).digest();
  }
}

/**
 * Local mode's authenticator: minted workload credentials (by their prefix) become callers limited to their own
 * identity; anything else goes to the node authenticator.
 */
export class LocalModeAuthenticator implements Authenticator {
  constructor(
    private readonly nodes: Authenticator,
    private readonly workloads: WorkloadCredentials,
  ) {}

  async authenticate(token: string): Promise<CallerIdentity> {
    if (!token.startsWith(WORKLOAD_CREDENTIAL_PREFIX)) return this.nodes.authenticate(token);
    const { namespace, serviceAccount } = this.workloads.verify(token);
    const caller: WorkloadCaller = {
      kind: 'workload',
      namespace,
      serviceAccount,
      caller: `workload-credential/${namespace}/${serviceAccount}`,
    };
    return caller;
  }
}
