import type { ServiceAccountTokens } from '../auth/tokens.ts';

export type { IssuedToken, TokenRequestSpec } from '../auth/tokens.ts';

/**
 * What the kubelet needs of the cluster's ServiceAccount tokens (contract 3): issuing only. Tests pass a small issuer
 * (local/testing/token-issuer.ts); the cluster passes its `ServiceAccountTokens`.
 */
export type TokenIssuer = Pick<ServiceAccountTokens, 'issue'>;
