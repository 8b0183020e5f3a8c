import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { PermissionDeniedError, UnauthenticatedError } from "@orderly/eventsourcing";
import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from "jose";

/** The scopes Orderly's RPCs require (space-separated in the token's `scope` claim). */
export const Scopes = {
  /** Every CommandService RPC. */
  write: "orders:write",
  /** QueryService. */
  read: "orders:read",
  /** Operator actions. */
  admin: "orders:admin",
} as const;

/** JWT bearer verification: one key source, the expected issuer and audience. */
export interface JwtAuthOptions {
  /** A PEM public key (SPKI) or certificate that signs the tokens. */
  readonly publicKeyFile?: string | undefined;
  /** A JWKS document (https, or http on loopback), fetched lazily, cached, re-fetched when a token names an unknown kid. */
  readonly jwksUrl?: string | undefined;
  readonly issuer: string;
  readonly audience: string;
  /** Leeway for exp/nbf/iat, seconds (default 30). */
  readonly clockToleranceSeconds?: number | undefined;
  /** Verified tokens remembered (by SHA-256) until they expire (default 10,000). */
  readonly cacheSize?: number | undefined;
  /** Least time between two JWKS fetches, also for an unknown kid (default 30,000 ms). */
  readonly jwksCooldownMs?: number | undefined;
  /**
   * How often the public key file is checked for a change (default 5,000 ms; ORDERLY_JWT_KEY_REFRESH_MS): a new key
   * replaces the old one without a restart, and tokens verified with the old one are forgotten.
   */
  readonly keyRefreshMs?: number | undefined;
  /** Told about each re-read of the public key file: undefined when the new key is in use, else why it was kept. */
  readonly onKeyReload?: ((problem: string | undefined) => void) | undefined;
}

/** Who made a call. */
export interface Principal {
  /** The token's `sub`. */
  readonly subject: string;
  readonly scopes: ReadonlySet<string>;
  /** Epoch ms of the token's `exp`. */
  readonly expiresAt: number;
}

const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;
/** No JWS this server accepts is anywhere near this long; longer is refused before any parsing. */
const MAX_TOKEN_LENGTH = 8_192;

/**
 * Verifies `authorization: Bearer <jwt>` with jose. Only asymmetric algorithms are accepted (never `none`, never an
 * HMAC keyed with the public key); `iss`, `aud`, `exp` (required) and `nbf` are checked with a small leeway. A
 * verified token is remembered by its SHA-256 until it expires, so a caller pays for one signature check per token,
 * not per call. Refusals carry a short reason and never the token.
 */
export class JwtAuthenticator {
  #key: KeyObject | JWTVerifyGetKey;
  #algorithms: string[];
  #watched: { file: string; listener: () => void } | undefined;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #toleranceMs: number;
  readonly #cacheSize: number;
  readonly #cache = new Map<string, Principal>();

  constructor(options: JwtAuthOptions) {
    if ((options.publicKeyFile === undefined) === (options.jwksUrl === undefined)) {
      throw new Error("JWT verification needs exactly one of a public key file and a JWKS URL");
    }
    if (options.publicKeyFile !== undefined) {
      const file = options.publicKeyFile;
      const key = readPublicKey(file);
      this.#key = key;
      this.#algorithms = algorithmsFor(key);
      // Polls stat (follows symlinks: a Kubernetes secret volume swaps a symlink); a half-written file is kept out by
      // readPublicKey failing, and the previous key stays in use until a whole one is there.
      const listener = () => {
        let next: KeyObject;
        try {
          next = readPublicKey(file);
        } catch (error) {
          options.onKeyReload?.(`${(error as Error).message}; the previous key stays in use`);
          return;
        }
        this.#key = next;
        this.#algorithms = algorithmsFor(next);
        this.#cache.clear();
        options.onKeyReload?.(undefined);
      };
      watchFile(file, { interval: options.keyRefreshMs ?? 5_000, persistent: false }, listener);
      this.#watched = { file, listener };
    } else {
      this.#key = createRemoteJWKSet(checkJwksUrl(options.jwksUrl as string), {
        timeoutDuration: 5_000,
        cooldownDuration: options.jwksCooldownMs ?? 30_000,
        cacheMaxAge: 10 * 60_000,
      });
      this.#algorithms = ASYMMETRIC_ALGORITHMS;
    }
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#toleranceMs = (options.clockToleranceSeconds ?? 30) * 1000;
    this.#cacheSize = options.cacheSize ?? 10_000;
  }

  /** Stops watching the public key file. */
  close(): void {
    if (this.#watched !== undefined) unwatchFile(this.#watched.file, this.#watched.listener);
    this.#watched = undefined;
  }

  /**
   * The caller behind an `authorization` metadata value, holding `scope` when one is given. Synchronous when the token
   * was verified before; throws (or rejects with) UnauthenticatedError / PermissionDeniedError.
   */
  authorize(authorization: readonly unknown[], scope: string | undefined): Principal | Promise<Principal> {
    const token = bearerToken(authorization);
    const hash = createHash("sha256").update(token).digest("base64");
    const cached = this.#cache.get(hash);
    if (cached !== undefined) {
      if (Date.now() < cached.expiresAt + this.#toleranceMs) return requireScope(cached, scope);
      this.#cache.delete(hash);
    }
    return this.#verify(token, hash).then((principal) => requireScope(principal, scope));
  }

  async #verify(token: string, hash: string): Promise<Principal> {
    let payload: JWTPayload;
    const key = this.#key;
    try {
      ({ payload } = await jwtVerify(token, key as KeyObject, {
        issuer: this.#issuer,
        audience: this.#audience,
        algorithms: this.#algorithms,
        clockTolerance: this.#toleranceMs / 1000,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (error) {
      throw new UnauthenticatedError(`invalid bearer token: ${reason(error)}`);
    }
    if (typeof payload.sub !== "string" || payload.sub === "" || typeof payload.exp !== "number") {
      throw new UnauthenticatedError("invalid bearer token: sub and exp are required");
    }
    const principal: Principal = {
      subject: payload.sub,
      scopes: new Set(scopesOf(payload.scope)),
      expiresAt: payload.exp * 1000,
    };
    // Verified with a key that was replaced meanwhile: good for this call, not remembered.
    if (this.#key !== key) return principal;
    if (this.#cache.size >= this.#cacheSize) {
      // The oldest entry goes (Map keeps insertion order).
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
    this.#cache.set(hash, principal);
    return principal;
  }
}

function bearerToken(values: readonly unknown[]): string {
  if (values.length === 0) throw new UnauthenticatedError("missing bearer token (authorization: Bearer <jwt>)");
  const value = values[0];
  if (values.length > 1 || typeof value !== "string" || value.length > MAX_TOKEN_LENGTH) {
    throw new UnauthenticatedError("malformed authorization metadata");
  }
  const match = BEARER.exec(value);
  if (match === null) throw new UnauthenticatedError("malformed authorization metadata (expected Bearer <jwt>)");
  return match[1] as string;
}

function requireScope(principal: Principal, scope: string | undefined): Principal {
  if (scope !== undefined && !principal.scopes.has(scope)) {
    throw new PermissionDeniedError(`the token of ${principal.subject} lacks the scope ${scope}`);
  }
  return principal;
}

function scopesOf(claim: unknown): string[] {
  if (typeof claim === "string") return claim.split(" ").filter((s) => s !== "");
  if (Array.isArray(claim)) return claim.filter((s): s is string => typeof s === "string");
  return [];
}

/** jose's error code as a short reason; its messages are not echoed (they never hold the token, but stay terse). */
function reason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return "expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = (error as { claim?: unknown }).claim;
      return typeof claim === "string" ? `${claim} claim rejected` : "claim rejected";
    }
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "signature does not verify";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "algorithm not allowed";
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return "no matching signing key";
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JOSE_GENERIC":
      return "signing keys unavailable";
    default:
      return "malformed";
  }
}

/** A PEM public key or certificate; refuses a private or symmetric key. */
export function readPublicKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read the JWT public key ${file}: ${(error as Error).message}`);
  }
  if (/PRIVATE KEY-----/.test(pem)) {
    throw new Error(`the JWT public key file ${file} holds a private key: give the public key only`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new Error(`the JWT public key file ${file} is not a PEM public key or certificate`);
  }
  algorithmsFor(key, file);
  return key;
}

function algorithmsFor(key: KeyObject, file = "the JWT public key"): string[] {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
    case "rsa-pss":
      return ["PS256", "PS384", "PS512"];
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === "prime256v1") return ["ES256"];
      if (curve === "secp384r1") return ["ES384"];
      if (curve === "secp521r1") return ["ES512"];
      throw new Error(`${file}: EC curve ${curve} is not a JWS curve`);
    }
    case "ed25519":
      return ["EdDSA", "Ed25519"];
    default:
      throw new Error(`${file}: key type ${key.asymmetricKeyType} cannot verify JWTs`);
  }
}

function checkJwksUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`ORDERLY_JWT_JWKS_URL=${JSON.stringify(raw)} is not a URL`);
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new Error(`ORDERLY_JWT_JWKS_URL must be https (http only on loopback), got ${url.protocol}`);
  }
  return url;
}
