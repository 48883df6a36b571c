/**
 * The outcome of converting one AuthorizationPolicy or PeerAuthentication for ztunnel, for the controller to write as
 * a status condition. `accepted` is false only when the object has no effect at all on ztunnel because of a problem
 * (an unsupported action, an invalid value); warnings about parts that were dropped keep `accepted: true`.
 */
export interface PolicyStatus {
  readonly accepted: boolean;
  /** CamelCase, stable: Accepted, UnsupportedValue, InvalidValue, NotForZtunnel. */
  readonly reason: string;
  readonly message: string;
  /** Fields of the object that ztunnel does not enforce (HTTP attributes, misplaced fields). */
  readonly ignoredFields: readonly string[];
}

export const ACCEPTED: PolicyStatus = { accepted: true, reason: 'Accepted', message: '', ignoredFields: [] };

export function rejected(reason: string, message: string): PolicyStatus {
  return { accepted: false, reason, message, ignoredFields: [] };
}
