/**
 * What the kubelet needs of the cluster's ServiceAccount token issuer: contract 3's `ServiceAccountTokens.issue`
 * (local/src/auth/tokens.ts, where `createServiceAccountTokens` makes one). Declared here, structurally identical,
 * so the kubelet does not depend on how tokens are signed; any `ServiceAccountTokens` is a `TokenIssuer`.
 */

export interface TokenRequestSpec {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** Default: the API server's audience. */
  readonly audiences?: readonly string[];
  readonly expirationSeconds?: number;
  readonly boundObject?: { readonly kind: 'Pod' | 'Secret'; readonly name: string; readonly uid: string };
  readonly nodeName?: string;
}

export interface IssuedToken {
  readonly token: string;
  /** RFC 3339. */
  readonly expirationTimestamp: string;
}

export interface TokenIssuer {
  issue(req: TokenRequestSpec): IssuedToken;
}
