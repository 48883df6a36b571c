import { status } from '@grpc/grpc-js';
import { AmbitError } from '@ambit/core';

/**
 * Why the CA refused or failed. Each code maps to exactly one gRPC status (below) and one metric reason, so a
 * refusal means the same thing in the caller's error, the log and the dashboard.
 */
export type CaErrorCode =
  | 'CA_NO_TOKEN'
  | 'CA_BAD_TOKEN'
  | 'CA_AUTH_BACKEND_UNAVAILABLE'
  | 'CA_IDENTITY_REQUIRED'
  | 'CA_INVALID_IDENTITY'
  | 'CA_FOREIGN_TRUST_DOMAIN'
  | 'CA_NOT_ON_NODE'
  | 'CA_IDENTITY_NOT_ALLOWED'
  | 'CA_INVALID_CSR'
  | 'CA_NOT_READY'
  | 'CA_MATERIAL_INVALID'
  | 'CA_STORE_FAILED';

export class CaError extends AmbitError {
  declare readonly code: CaErrorCode;

  constructor(code: CaErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

const GRPC_STATUS: Readonly<Record<CaErrorCode, status>> = {
  CA_NO_TOKEN: status.UNAUTHENTICATED,
  CA_BAD_TOKEN: status.UNAUTHENTICATED,
  // Not the caller's fault: UNAVAILABLE makes ztunnel retry with backoff instead of treating its token as bad.
  CA_AUTH_BACKEND_UNAVAILABLE: status.UNAVAILABLE,
  CA_IDENTITY_REQUIRED: status.INVALID_ARGUMENT,
  CA_INVALID_IDENTITY: status.INVALID_ARGUMENT,
  CA_FOREIGN_TRUST_DOMAIN: status.PERMISSION_DENIED,
  CA_NOT_ON_NODE: status.PERMISSION_DENIED,
  CA_IDENTITY_NOT_ALLOWED: status.PERMISSION_DENIED,
  CA_INVALID_CSR: status.INVALID_ARGUMENT,
  CA_NOT_READY: status.UNAVAILABLE,
  CA_MATERIAL_INVALID: status.INTERNAL,
  CA_STORE_FAILED: status.INTERNAL,
};

/** The gRPC status and metric reason of any error thrown while serving a request; unknown errors are INTERNAL. */
export function classifyCaError(err: unknown): { grpcStatus: status; reason: string; message: string } {
  if (err instanceof CaError) {
    return { grpcStatus: GRPC_STATUS[err.code], reason: err.code.slice('CA_'.length).toLowerCase(), message: err.message };
  }
  return { grpcStatus: status.INTERNAL, reason: 'internal', message: 'internal CA error' };
}
