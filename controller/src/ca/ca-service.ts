import { performance } from 'node:perf_hooks';
import type { Server, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from '@ambit/core';
import {
  certificateServiceDefinition,
  IMPERSONATED_IDENTITY_KEY,
  type CertificateRequest,
  type CertificateResponse,
} from './core-identity.ts';
import type { Authenticator, CallerIdentity } from './authenticator.ts';
import { CaError, classifyCaError } from './ca-error.ts';
import type { CaMetrics } from './ca-metrics.ts';
import type { MeshCa } from './mesh-ca.ts';

export interface CaServiceDeps {
  readonly ca: MeshCa;
  readonly authenticator: Authenticator;
  /**
   * True when a pod of `namespace/serviceAccount` that is not terminal (not Succeeded/Failed) is scheduled on
   * `node`. The controller's model answers from its informers, as istiod's `saNode` index does.
   */
  readonly serviceAccountOnNode: (namespace: string, serviceAccount: string, node: string) => boolean;
  readonly metrics?: CaMetrics;
  readonly log: Logger;
}

function bearerToken(call: ServerUnaryCall<CertificateRequest, CertificateResponse>): string {
  const [header] = call.metadata.get('authorization');
  const value = typeof header === 'string' ? header : (header?.toString('utf8') ?? '');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (m?.[1] === undefined) throw new CaError('CA_NO_TOKEN', 'missing "authorization: Bearer <token>" metadata');
  return m[1];
}

async function authenticate(authenticator: Authenticator, token: string): Promise<CallerIdentity> {
  try {
    return await authenticator.authenticate(token);
  } catch (err) {
    if (err instanceof CaError) throw err;
    // The Authenticator contract: anything it throws is a failed authentication.
    throw new CaError('CA_BAD_TOKEN', 'authentication failed', { cause: err });
  }
}

/**
 * Registers `istio.v1.auth.IstioCertificateService` on a server the caller owns (the controller shares one with xDS).
 * Order of checks: authenticate, then the requested identity — for a node proxy: present, well-formed, our trust
 * domain, and node authorisation (reference istio-ambient.md §5 impersonation); for a workload caller: its own
 * identity only — then the CSR. Unauthenticated callers learn nothing
 * about identities or CSR rules.
 */
export function addCaService(server: Server, deps: CaServiceDeps): void {
  const log = deps.log.child({ component: 'ca-service' });

  const handle = async (
    req: CertificateRequest,
    token: () => string,
  ): Promise<{ res: CertificateResponse; caller: CallerIdentity; identity: string }> => {
    const caller = await authenticate(deps.authenticator, token());
    const requested = req.metadata[IMPERSONATED_IDENTITY_KEY];
    let identity: string;
    if (caller.kind === 'workload') {
      // A workload (a waypoint) may only have its own identity. It may name it (core's CA client always does) or
      // leave the field out, as Istio's sidecars do; anything else is refused before the CSR is looked at.
      const own = `spiffe://${deps.ca.trustDomain}/ns/${caller.namespace}/sa/${caller.serviceAccount}`;
      if (requested !== undefined && requested !== '' && requested !== own) {
        throw new CaError(
          'CA_IDENTITY_NOT_ALLOWED',
          `${caller.caller} may only request its own identity ${own}, not ${typeof requested === 'string' ? requested.slice(0, 300) : 'a non-string identity'}`,
        );
      }
      identity = own;
    } else {
      // Node proxies ask on behalf of their pods; a certificate for the node proxy's own identity is not needed by
      // anything in the mesh, so the field is mandatory for them.
      if (typeof requested !== 'string' || requested === '') {
        throw new CaError('CA_IDENTITY_REQUIRED', `${IMPERSONATED_IDENTITY_KEY} required`);
      }
      identity = requested;
      const { namespace, serviceAccount } = deps.ca.checkIdentity(identity);
      if (!deps.serviceAccountOnNode(namespace, serviceAccount, caller.node)) {
        throw new CaError(
          'CA_NOT_ON_NODE',
          `node ${caller.node} may not request ${identity}: no running pod of service account ${namespace}/${serviceAccount} is scheduled on it`,
        );
      }
    }
    const { certChain } = await deps.ca.signCsr({ csrPem: req.csr, identity, ttlSeconds: req.validitySeconds });
    return { res: { certChain }, caller, identity };
  };

  server.addService(certificateServiceDefinition, {
    CreateCertificate: (call: ServerUnaryCall<CertificateRequest, CertificateResponse>, done: sendUnaryData<CertificateResponse>) => {
      const started = performance.now();
      deps.metrics?.received();
      handle(call.request, () => bearerToken(call)).then(
        ({ res, caller, identity }) => {
          deps.metrics?.signed();
          log.info(
            {
              identity,
              ...(caller.kind === 'workload' ? {} : { node: caller.node }),
              caller: caller.caller,
              ms: Math.round(performance.now() - started),
            },
            'certificate issued',
          );
          done(null, res);
        },
        (err: unknown) => {
          const { grpcStatus, reason, message } = classifyCaError(err);
          deps.metrics?.refused(reason);
          const requested = call.request.metadata[IMPERSONATED_IDENTITY_KEY];
          const fields = { reason, identity: typeof requested === 'string' ? requested.slice(0, 300) : undefined, peer: call.getPeer() };
          if (reason === 'internal') log.error({ ...fields, err }, 'CA request failed');
          else log.warn({ ...fields, detail: message }, 'CA request refused');
          done({ code: grpcStatus, details: message });
        },
      );
    },
  });
}
