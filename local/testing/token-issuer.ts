import type { IssuedToken, TokenIssuer, TokenRequestSpec } from '../src/cluster/token-issuer.ts';

/**
 * A ServiceAccount token issuer for kubelet tests: an unsigned JWT (`alg: none`) whose claims say what was asked, so
 * a test can read back audience, lifetime and binding from the file a pod sees. Records every request.
 */
export interface TestTokenIssuer extends TokenIssuer {
  readonly requests: TokenRequestSpec[];
}

/** `lifetimeSeconds`: issue tokens this long-lived whatever was asked (as an API server may), to test refresh fast. */
export function createTestTokenIssuer(options: { nowMs?: () => number; lifetimeSeconds?: number } = {}): TestTokenIssuer {
  const nowMs = options.nowMs ?? Date.now;
  const requests: TokenRequestSpec[] = [];
  return {
    requests,
    issue(req: TokenRequestSpec): IssuedToken {
      requests.push(req);
      const iat = Math.floor(nowMs() / 1000);
      const exp = iat + (options.lifetimeSeconds ?? req.expirationSeconds ?? 3607);
      const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
      const claims = {
        aud: req.audiences ?? ['https://kubernetes.default.svc.cluster.local'],
        iat,
        exp,
        sub: `system:serviceaccount:${req.namespace}:${req.serviceAccount}`,
        n: requests.length,
        'kubernetes.io': { namespace: req.namespace, node: req.nodeName, pod: req.boundObject },
      };
      return { token: `${b64({ alg: 'none' })}.${b64(claims)}.`, expirationTimestamp: new Date(exp * 1000).toISOString() };
    },
  };
}

/** The claims of a token made by createTestTokenIssuer. */
export function testTokenClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}
