import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createCertificateAuthority, issueCertificate } from "./dev-pki.js";
import { readServerSecurityConfig } from "./security-config.js";

const dir = mkdtempSync(join(tmpdir(), "orderly-security-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("readServerSecurityConfig", () => {
  it("is plaintext without settings", () => {
    expect(readServerSecurityConfig({})).toEqual({
      config: { tls: undefined, auth: undefined, limits: undefined, maxDeadlineMs: 30_000 },
      problems: [],
    });
  });

  it("reads the deadline cap and refuses a malformed one", () => {
    expect(readServerSecurityConfig({ ORDERLY_MAX_DEADLINE_MS: "5000" }).config.maxDeadlineMs).toBe(5000);
    expect(readServerSecurityConfig({ ORDERLY_MAX_DEADLINE_MS: "5s" }).problems).toEqual([
      'ORDERLY_MAX_DEADLINE_MS="5s" is not an integer in 100-3600000',
    ]);
  });

  it("reads TLS and mTLS files and checks them", () => {
    const ca = createCertificateAuthority(dir, "ca");
    const server = issueCertificate(ca, dir, "server", { commonName: "localhost", hosts: ["127.0.0.1"] });
    const { config, problems } = readServerSecurityConfig({
      ORDERLY_TLS_CERT: server.cert,
      ORDERLY_TLS_KEY: server.key,
      ORDERLY_TLS_CLIENT_CA: ca.cert,
      ORDERLY_TLS_REFRESH_MS: "1000",
    });
    expect(problems).toEqual([]);
    expect(config.tls).toEqual({
      certFile: server.cert,
      keyFile: server.key,
      clientCaFile: ca.cert,
      refreshIntervalMs: 1000,
    });
  });

  it("reads JWT settings and names what is missing", () => {
    const key = join(dir, "jwt.pem");
    writeFileSync(
      key,
      generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }),
    );
    const { config, problems } = readServerSecurityConfig({
      ORDERLY_JWT_PUBLIC_KEY_FILE: key,
      ORDERLY_JWT_ISSUER: "https://issuer",
      ORDERLY_JWT_AUDIENCE: "orderly",
      ORDERLY_JWT_CLOCK_SKEW_S: "10",
    });
    expect(problems).toEqual([]);
    expect(config.auth).toEqual({
      publicKeyFile: key,
      jwksUrl: undefined,
      issuer: "https://issuer",
      audience: "orderly",
      clockToleranceSeconds: 10,
    });
    expect(readServerSecurityConfig({ ORDERLY_JWT_JWKS_URL: "http://keys.example.com/jwks" }).problems).toEqual([
      "ORDERLY_JWT_ISSUER is required with JWT authorization",
      "ORDERLY_JWT_AUDIENCE is required with JWT authorization",
      "ORDERLY_JWT_JWKS_URL must be https (http only on loopback): http://keys.example.com/jwks",
    ]);
    expect(readServerSecurityConfig({ ORDERLY_JWT_ISSUER: "x" }).problems).toEqual([
      "ORDERLY_JWT_ISSUER/AUDIENCE need ORDERLY_JWT_PUBLIC_KEY_FILE or ORDERLY_JWT_JWKS_URL",
    ]);
  });

  it("names each problem", () => {
    expect(readServerSecurityConfig({ ORDERLY_TLS_CERT: "/x.crt" }).problems).toEqual([
      "ORDERLY_TLS_CERT and ORDERLY_TLS_KEY go together: set both (PEM files) or neither",
    ]);
    expect(readServerSecurityConfig({ ORDERLY_TLS_CLIENT_CA: "/ca.crt" }).problems).toEqual([
      "ORDERLY_TLS_CLIENT_CA (mTLS) needs ORDERLY_TLS_CERT and ORDERLY_TLS_KEY",
    ]);
    const missing = readServerSecurityConfig({ ORDERLY_TLS_CERT: join(dir, "nope.crt"), ORDERLY_TLS_KEY: "/k" });
    expect(missing.problems[0]).toMatch(/cannot read the TLS certificate .*nope\.crt/);
  });
});
