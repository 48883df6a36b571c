import { AmbitError } from '../errors.ts';

/**
 * Errors of the certificate manager (ztunnel's and the waypoint's). Codes:
 * - `CERT_UNAVAILABLE`: no currently-valid certificate and the last fetch failed (`cause` is the CA's error).
 * - `CERT_WAIT_TIMEOUT`: no certificate arrived within the wait bound of `certFor`.
 * - `CERT_IDENTITY_MISMATCH`: the leaf returned does not carry exactly the requested URI SAN.
 * - `CERT_INVALID`: the returned certificate does not parse, is already expired, or does not match its key.
 * - `CERT_FETCH_TIMEOUT`: the fetch did not settle within the manager's fetch timeout.
 * - `CERT_MANAGER_CLOSED`: the manager was closed.
 */
export class CertError extends AmbitError {
  /** The identity concerned. */
  readonly identity: string;

  constructor(code: string, identity: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.identity = identity;
  }
}
