import type { KeyObject } from "node:crypto";
import { SignJWT } from "jose";

export interface TokenClaims {
  readonly scope: string;
  readonly issuer: string;
  readonly audience: string;
  readonly subject: string;
  /** The token's lifetime from now. */
  readonly seconds: number;
  /** Whether to set `iat` (now). */
  readonly issuedAt?: boolean;
}

/** An ES256 JWT of the shape the services verify (ORDERLY_JWT_ISSUER, ORDERLY_JWT_AUDIENCE, `scope`), signed with `key`. */
export function signToken(key: KeyObject, claims: TokenClaims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ scope: claims.scope })
    .setProtectedHeader({ alg: "ES256" })
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setSubject(claims.subject);
  if (claims.issuedAt) jwt.setIssuedAt(now);
  return jwt.setExpirationTime(now + claims.seconds).sign(key);
}
