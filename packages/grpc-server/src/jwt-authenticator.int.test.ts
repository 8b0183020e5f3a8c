import { generateKeyPairSync } from "node:crypto";
import { renameSync, writeFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import { join } from "node:path";
import { PermissionDeniedError, seededRandom, UnauthenticatedError } from "@orderly/eventsourcing";
import { exportJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIENCE, b64, dir, ISSUER, other, publicKeyFile, publicPem, sign, signing } from "./auth.fixture.js";
import { JwtAuthenticator, type Principal, Scopes } from "./auth.js";

// The authenticator on its own: hostile input, its cache, key file rotation, JWKS URLs.
describe("JwtAuthenticator", () => {
  it("refuses random bytes and random JSON without throwing anything but UnauthenticatedError", async () => {
    const auth = new JwtAuthenticator({ publicKeyFile, issuer: ISSUER, audience: AUDIENCE });
    const random = seededRandom(42);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    for (let i = 0; i < 2_000; i++) {
      const kind = i % 4;
      const value =
        kind === 0
          ? bytes(Math.floor(random() * 400)).toString("latin1")
          : kind === 1
            ? `Bearer ${bytes(30).toString("base64url")}.${bytes(60).toString("base64url")}.${bytes(64).toString("base64url")}`
            : kind === 2
              ? `Bearer ${bytes(40).toString("base64url")}.${b64({ sub: bytes(8).toString("latin1"), exp: random() * 1e12 })}.${bytes(64).toString("base64url")}`
              : `Bearer ${b64({ alg: ["ES256", "none", "HS256", "RS256", ""][i % 5], kid: bytes(4).toString("hex") })}.${bytes(100).toString("base64url")}.${bytes(70).toString("base64url")}`;
      let outcome: unknown;
      try {
        await auth.authorize([value], Scopes.write);
      } catch (error) {
        outcome = error;
      }
      expect(outcome).toBeInstanceOf(UnauthenticatedError);
    }
    const two = [`Bearer ${await sign()}`, `Bearer ${await sign()}`];
    expect(() => auth.authorize(two, undefined)).toThrow(/malformed/);
    let wrongType: unknown;
    try {
      await auth.authorize([Buffer.from("Bearer x.y.z")], undefined);
    } catch (error) {
      wrongType = error;
    }
    expect(wrongType).toBeInstanceOf(UnauthenticatedError);
  });

  it("verifies a token once and answers from its cache until it expires; the cache is bounded", async () => {
    const auth = new JwtAuthenticator({ publicKeyFile, issuer: ISSUER, audience: AUDIENCE, cacheSize: 2 });
    const token = await sign();
    const first = auth.authorize([`Bearer ${token}`], Scopes.write);
    expect(first).toBeInstanceOf(Promise);
    const principal = await first;
    const again = auth.authorize([`Bearer ${token}`], Scopes.write);
    expect(again).toBe(principal); // synchronous, from the cache
    expect(() => auth.authorize([`Bearer ${token}`], Scopes.admin)).toThrow(PermissionDeniedError);
    await auth.authorize([`Bearer ${await sign({ jti: "a" })}`], undefined);
    await auth.authorize([`Bearer ${await sign({ jti: "b" })}`], undefined);
    expect(auth.authorize([`Bearer ${token}`], Scopes.write)).toBeInstanceOf(Promise); // evicted
  });

  it("re-reads the public key file when it changes: the new key signs, the old key's tokens (cached too) are refused", async () => {
    const file = join(dir, "rotating.pem");
    writeFileSync(file, publicPem);
    const reloads: (string | undefined)[] = [];
    const auth = new JwtAuthenticator({
      publicKeyFile: file,
      issuer: ISSUER,
      audience: AUDIENCE,
      keyRefreshMs: 100,
      onKeyReload: (problem) => reloads.push(problem),
    });
    try {
      const oldToken = `Bearer ${await sign()}`;
      const newToken = `Bearer ${await sign({}, { key: other.privateKey })}`;
      await auth.authorize([oldToken], Scopes.write); // verified and cached
      await expect(auth.authorize([newToken], Scopes.write)).rejects.toBeInstanceOf(UnauthenticatedError);

      // A half-written file is not a key: the old key stays in use.
      writeFileSync(file, "-----BEGIN PUBLIC KEY-----\nMFkw");
      await expect.poll(() => reloads.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      expect(reloads[0]).toMatch(/previous key stays in use/);
      expect(((await auth.authorize([oldToken], Scopes.write)) as Principal).subject).toBe("svc-checkout");

      // Rotation: written beside, renamed over (what a secret volume does).
      writeFileSync(`${file}.next`, other.publicKey.export({ type: "spki", format: "pem" }) as string);
      renameSync(`${file}.next`, file);
      await expect.poll(() => reloads.includes(undefined), { timeout: 10_000 }).toBe(true);
      expect(((await auth.authorize([newToken], Scopes.write)) as Principal).subject).toBe("svc-checkout");
      await expect(Promise.resolve().then(() => auth.authorize([oldToken], Scopes.write))).rejects.toBeInstanceOf(
        UnauthenticatedError,
      );
    } finally {
      auth.close();
    }
  });

  it("refuses a private key or a symmetric secret as the verification key", () => {
    const privateFile = join(dir, "private.pem");
    writeFileSync(privateFile, signing.privateKey.export({ type: "pkcs8", format: "pem" }));
    expect(() => new JwtAuthenticator({ publicKeyFile: privateFile, issuer: ISSUER, audience: AUDIENCE })).toThrow(
      /holds a private key/,
    );
    const secretFile = join(dir, "secret.txt");
    writeFileSync(secretFile, "correct horse battery staple");
    expect(() => new JwtAuthenticator({ publicKeyFile: secretFile, issuer: ISSUER, audience: AUDIENCE })).toThrow(
      /not a PEM public key/,
    );
  });
});

describe("JwtAuthenticator with a JWKS URL", () => {
  let http: HttpServer;
  let url: string;
  let keys: object[] = [];
  let fetches = 0;

  beforeAll(async () => {
    keys = [{ ...(await exportJWK(signing.publicKey)), kid: "k1", alg: "ES256", use: "sig" }];
    http = createServer((_req, res) => {
      fetches++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(http.address() as { port: number }).port}/jwks.json`;
  });
  afterAll(() => {
    http.close();
  });

  it("verifies with the cached key set and fetches it again for an unknown kid", async () => {
    const auth = new JwtAuthenticator({ jwksUrl: url, issuer: ISSUER, audience: AUDIENCE, jwksCooldownMs: 0 });
    const p1 = (await auth.authorize([`Bearer ${await sign({}, { kid: "k1" })}`], Scopes.write)) as Principal;
    expect(p1.subject).toBe("svc-checkout");
    await auth.authorize([`Bearer ${await sign({ jti: "2" }, { kid: "k1" })}`], Scopes.write);
    expect(fetches).toBe(1);

    // The issuer rotates to a new key: a token naming it makes the server fetch the set again.
    keys = [...keys, { ...(await exportJWK(other.publicKey)), kid: "k2", alg: "ES256", use: "sig" }];
    await auth.authorize([`Bearer ${await sign({}, { kid: "k2", key: other.privateKey })}`], Scopes.write);
    expect(fetches).toBe(2);

    // A kid nobody published is refused.
    const unknown = generateKeyPairSync("ec", { namedCurve: "P-256" });
    await expect(
      auth.authorize([`Bearer ${await sign({}, { kid: "k3", key: unknown.privateKey })}`], Scopes.write),
    ).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it("refuses a plain-http JWKS URL that is not on loopback", () => {
    expect(
      () => new JwtAuthenticator({ jwksUrl: "http://keys.example.com/jwks", issuer: ISSUER, audience: AUDIENCE }),
    ).toThrow(/https/);
  });
});
