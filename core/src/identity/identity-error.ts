import { AmbitError } from '../errors.ts';

/**
 * Errors of identity handling (SPIFFE IDs, CSRs, certificates, the CA client). Codes:
 * - `INVALID_SPIFFE_ID`: not `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 * - `INVALID_CERTIFICATE`: PEM that does not parse as an X.509 certificate, or a key that does not load.
 * - `CA_REQUEST_FAILED`: the CA refused or could not be reached; `grpcCode` carries the gRPC status.
 * - `CA_BAD_RESPONSE`: the CA answered with an empty or unparsable chain.
 * - `CA_IDENTITY_MISMATCH`: the CA's leaf does not carry exactly the identity we asked for.
 */
export class IdentityError extends AmbitError {
  /** gRPC status code for `CA_REQUEST_FAILED`, else undefined. */
  readonly grpcCode: number | undefined;

  constructor(code: string, message: string, options?: { cause?: unknown; grpcCode?: number }) {
    super(code, message, options);
    this.grpcCode = options?.grpcCode;
  }
}
