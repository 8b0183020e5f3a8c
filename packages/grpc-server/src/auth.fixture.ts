// Fixtures of the JWT int tests: a signing key pair (its public key in a file), another key, and tokens made with
// them. Test-only (a `*.fixture.ts` is left out of the build). The key directory is removed after the test file.
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JWTPayload, SignJWT } from "jose";
import { afterAll } from "vitest";
import { Scopes } from "./auth.js";

export const ISSUER = "https://auth.orderly.test";
export const AUDIENCE = "orderly";
export const dir = mkdtempSync(join(tmpdir(), "orderly-auth-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

export const signing = generateKeyPairSync("ec", { namedCurve: "P-256" });
export const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
export const publicKeyFile = join(dir, "jwt-public.pem");
export const publicPem = signing.publicKey.export({ type: "spki", format: "pem" }) as string;
writeFileSync(publicKeyFile, publicPem);

export type Claims = JWTPayload & { scope?: string };

export function sign(
  claims: Claims = {},
  options: { key?: KeyObject; kid?: string; lifetimeS?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Claims = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "svc-checkout",
    iat: now,
    exp: now + (options.lifetimeS ?? 300),
    scope: `${Scopes.write} ${Scopes.read}`,
    ...claims,
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: "ES256", ...(options.kid ? { kid: options.kid } : {}) })
    .sign(options.key ?? signing.privateKey);
}

export const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
export function unsigned(alg: string, signature = ""): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: ISSUER, aud: AUDIENCE, sub: "svc-checkout", exp: now + 300, scope: Scopes.write };
  return `${b64({ alg, typ: "JWT" })}.${b64(payload)}.${signature}`;
}
