import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BearerMetadata,
  channelSecurity,
  describeSecurity,
  loadSecurity,
  securitySettingsFromEnv,
} from "./security.js";

describe("BearerMetadata", () => {
  it("sends no metadata without a provider", () => {
    const next = new BearerMetadata(undefined).next();
    expect(next.metadata.get("authorization")).toEqual([]);
    expect(next.credentials).toBeUndefined();
  });

  it("asks the provider on every call and reuses one Metadata per distinct token", () => {
    let asked = 0;
    let token = "aaa";
    const bearer = new BearerMetadata(() => {
      asked += 1;
      return token;
    });
    const first = bearer.next();
    const second = bearer.next();
    expect(asked).toBe(2);
    expect(first.metadata.get("authorization")).toEqual(["Bearer aaa"]);
    expect(second.metadata).toBe(first.metadata);
    expect(first.credentials).toBeUndefined();
    token = "bbb";
    const third = bearer.next();
    expect(third.metadata.get("authorization")).toEqual(["Bearer bbb"]);
    expect(third.metadata).not.toBe(first.metadata);
  });

  it("hands an asynchronous token to per-call credentials", async () => {
    const next = new BearerMetadata(async () => "async-token").next();
    expect(next.metadata.get("authorization")).toEqual([]);
    const metadata = await next.credentials?.generateMetadata({ service_url: "https://x/svc", method_name: "M" });
    expect(metadata?.get("authorization")).toEqual(["Bearer async-token"]);
  });

  it("fails the call (through its credentials), not the generator, when the provider throws, rejects or is empty", async () => {
    for (const provider of [
      () => {
        throw new Error("no token today");
      },
      () => Promise.reject(new Error("no token today")),
      () => "",
    ]) {
      const next = new BearerMetadata(provider).next();
      await expect(
        next.credentials?.generateMetadata({ service_url: "https://x/svc", method_name: "M" }),
      ).rejects.toThrow(/no token today|empty token/);
    }
  });
});

describe("loadSecurity", () => {
  // The files it reads, in a folder of each test's own.
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "loadtest-security-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const pem = (name: string, text = "-----BEGIN CERTIFICATE-----\n") => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it("is plaintext without a token when nothing is set", () => {
    expect(loadSecurity({})).toBeUndefined();
    expect(describeSecurity(undefined)).toEqual({
      tls: false,
      client_certificate: false,
      server_name: null,
      token: null,
    });
  });

  it("turns TLS on with any TLS setting and reads the files", () => {
    expect(loadSecurity({ tls: true })?.tls).toEqual({
      ca: undefined,
      cert: undefined,
      key: undefined,
      serverName: undefined,
    });
    const security = loadSecurity({
      caFile: pem("ca.crt", "CA"),
      certFile: pem("client.crt", "CERT"),
      keyFile: pem("client.key", "KEY"),
      serverName: "localhost",
    });
    expect(security?.tls?.ca?.toString()).toBe("CA");
    expect(security?.tls?.cert?.toString()).toBe("CERT");
    expect(security?.tls?.key?.toString()).toBe("KEY");
    expect(describeSecurity(security)).toEqual({
      tls: true,
      client_certificate: true,
      server_name: "localhost",
      token: null,
    });
    expect(loadSecurity({ serverName: "orders.internal" })?.tls?.serverName).toBe("orders.internal");
  });

  it("needs a certificate and its key together", () => {
    expect(() => loadSecurity({ certFile: pem("client.crt") })).toThrow(/needs its key/);
    expect(() => loadSecurity({ keyFile: pem("client.key") })).toThrow(/needs its key/);
  });

  it("names an unreadable file, never a file's content", () => {
    expect(() => loadSecurity({ caFile: join(dir, "missing.crt") })).toThrow(/CA certificate .*missing\.crt: ENOENT/);
    expect(() => loadSecurity({ tokenFile: join(dir, "missing.jwt") })).toThrow(/token file .*missing\.jwt: ENOENT/);
  });

  it("takes the token from a file (preferred) or from the environment, and reports only its source", () => {
    const tokenFile = pem("token.jwt", "file.token.value\n");
    const fromFile = loadSecurity({ tokenFile, token: "env.token.value" });
    expect(fromFile?.token?.()).toBe("file.token.value");
    expect(fromFile?.tls).toBeUndefined();
    const fromEnv = loadSecurity({ token: " env.token.value " });
    expect(fromEnv?.token?.()).toBe("env.token.value");
    const report = JSON.stringify([describeSecurity(fromFile), describeSecurity(fromEnv)]);
    expect(report).not.toContain("token.value");
    expect(describeSecurity(fromFile).token).toBe("file");
    expect(describeSecurity(fromEnv).token).toBe("env");
    expect(() => loadSecurity({ token: "  " })).toThrow(/ORDERLY_TOKEN is empty/);
  });

  it("reads the ORDERLY_* client variables, ignoring empty ones", () => {
    expect(
      securitySettingsFromEnv({
        ORDERLY_CA_FILE: "/ca.crt",
        ORDERLY_CLIENT_CERT: "/c.crt",
        ORDERLY_CLIENT_KEY: "/c.key",
        ORDERLY_TLS_SERVER_NAME: "",
        ORDERLY_TOKEN_FILE: "/t.jwt",
        ORDERLY_TOKEN: "abc",
      }),
    ).toEqual({
      caFile: "/ca.crt",
      certFile: "/c.crt",
      keyFile: "/c.key",
      serverName: undefined,
      tokenFile: "/t.jwt",
      token: "abc",
    });
  });
});

describe("channelSecurity", () => {
  it("is insecure without TLS and overrides the target name only when asked", () => {
    expect(channelSecurity(undefined).credentials._isSecure()).toBe(false);
    const tls = channelSecurity({});
    expect(tls.credentials._isSecure()).toBe(true);
    expect(tls.options).toEqual({});
    expect(channelSecurity({ serverName: "localhost" }).options).toEqual({
      "grpc.ssl_target_name_override": "localhost",
      "grpc.default_authority": "localhost",
    });
  });
});
