import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CommandService, QueryService } from "@orderly/contracts";
import {
  type CertificateFiles,
  createCertificateAuthority,
  GrpcServer,
  issueCertificate,
  Scopes,
} from "@orderly/grpc-server";
import { addStubService } from "@orderly/grpc-server/testing";
import { runNode } from "@orderly/testing";
import { SignJWT } from "jose";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREATE_ONLY } from "./mix.js";
import type { Report } from "./report.js";
import { type LoadOptions, runLoad } from "./run.js";
import { fileTokenProvider, type LoadSecurity } from "./security.js";

// The generator against the real server bootstrap (@orderly/grpc-server) with TLS, client certificates (mTLS) and
// JWT verification on, trivial handlers behind it: the generator's calls pass the server's checks, a token refreshed
// on disk is used from the next calls on, and a generator without credentials is refused. The CLI's flags and
// environment are checked the same way, and its output never carries the token or the key.

const ISSUER = "https://issuer.loadtest.test";
const AUDIENCE = "orderly";
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

let dir: string;
let server: GrpcServer;
let port: number;
let ca: CertificateFiles;
let client: CertificateFiles;
let signingKey: KeyObject;
/** The token `sub` of every call the handlers ran, in order. */
const subjects: string[] = [];

const sign = (subject: string, scope = `${Scopes.write} ${Scopes.read}`) =>
  new SignJWT({ scope })
    .setProtectedHeader({ alg: "ES256" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(subject)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
    .sign(signingKey);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "loadtest-secure-"));
  ca = createCertificateAuthority(dir, "ca");
  const serverCert = issueCertificate(ca, dir, "server", {
    commonName: "localhost",
    hosts: ["localhost", "127.0.0.1"],
    usage: "server",
  });
  client = issueCertificate(ca, dir, "client", { commonName: "loadtest", usage: "client" });
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  signingKey = keys.privateKey;
  const publicKeyFile = join(dir, "jwt.pem");
  writeFileSync(publicKeyFile, keys.publicKey.export({ type: "spki", format: "pem" }));
  server = new GrpcServer({
    name: "loadtest-secure",
    logger: pino({ level: "silent" }),
    reflection: false,
    tls: { certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile: ca.cert },
    auth: { publicKeyFile, issuer: ISSUER, audience: AUDIENCE },
  });
  let position = 0n;
  addStubService(
    server,
    CommandService,
    {
      createOrder: (request, context) => {
        subjects.push(context.principal?.subject ?? "?");
        position += 1n;
        return {
          accepted: { orderId: request.orderId, commandId: request.idempotencyKey, streamVersion: 1n, position },
        };
      },
    },
    { scope: Scopes.write },
  );
  addStubService(
    server,
    QueryService,
    { getOrderSummary: (request) => ({ summary: { orderId: request.orderId, version: 1n } }) },
    { scope: Scopes.read },
  );
  port = await server.listen(0, "127.0.0.1");
});

afterAll(async () => {
  await server?.shutdown({ graceMs: 100 });
  rmSync(dir, { recursive: true, force: true });
});

const base = (security: LoadSecurity | undefined, count = 200): LoadOptions => ({
  address: `localhost:${port}`,
  mode: "closed",
  concurrency: 8,
  count,
  timeoutMs: 20_000,
  maxInFlight: 1000,
  connections: 2,
  mix: CREATE_ONLY,
  rywRate: 0,
  queryAddress: `localhost:${port}`,
  seed: 7,
  customers: 10,
  lateThresholdMs: 5,
  slo: [],
  connectTimeoutMs: 5000,
  ...(security ? { security } : {}),
});

const tlsFiles = () => ({
  ca: readFileSync(ca.cert),
  cert: readFileSync(client.cert),
  key: readFileSync(client.key),
});

describe("runLoad over TLS + mTLS with a bearer token", () => {
  it("every command and read-your-writes query passes the server's checks", async () => {
    const token = await sign("svc-loadtest");
    subjects.length = 0;
    const report = await runLoad({
      ...base({ tls: tlsFiles(), token: () => token, tokenSource: "test" }),
      rywRate: 0.5,
    });
    expect(report.error_messages).toEqual([]);
    expect(report.status_codes).toEqual({ OK: 200 });
    expect(report.ryw?.checks).toBeGreaterThan(0);
    expect(report.ryw?.status_codes).toEqual({ OK: report.ryw?.checks });
    expect(new Set(subjects)).toEqual(new Set(["svc-loadtest"]));
    expect(report.options.security).toEqual({
      tls: true,
      client_certificate: true,
      server_name: null,
      token: "test",
    });
    expect(JSON.stringify(report)).not.toContain(token);
  });

  it("asks the token provider per call: a token replaced on disk is used from the next calls on", async () => {
    const file = join(dir, "rotating.jwt");
    writeFileSync(file, await sign("svc-before"));
    const provider = fileTokenProvider(file, { recheckMs: 20 });
    const next = await sign("svc-after");
    subjects.length = 0;
    const run = runLoad({ ...base({ tls: tlsFiles(), token: provider }, 1500), concurrency: 4 });
    while (subjects.length < 100) await new Promise((r) => setTimeout(r, 10));
    // atomically, as a secret volume does
    writeFileSync(`${file}.new`, next);
    renameSync(`${file}.new`, file);
    const report = await run;
    expect(report.status_codes).toEqual({ OK: 1500 });
    const firstAfter = subjects.indexOf("svc-after");
    expect(firstAfter).toBeGreaterThan(0);
    expect(subjects.slice(0, firstAfter).every((s) => s === "svc-before")).toBe(true);
    // a few calls already in flight may still carry the old token; none after them
    expect(subjects.slice(firstAfter + 8).every((s) => s === "svc-after")).toBe(true);
  });

  it("an asynchronous token provider works too", async () => {
    const token = await sign("svc-async");
    subjects.length = 0;
    const report = await runLoad(base({ tls: tlsFiles(), token: async () => token }, 100));
    expect(report.status_codes).toEqual({ OK: 100 });
    expect(new Set(subjects)).toEqual(new Set(["svc-async"]));
  });

  it("without a token every call is UNAUTHENTICATED; with a token lacking the scope PERMISSION_DENIED", async () => {
    const none = await runLoad(base({ tls: tlsFiles() }, 50));
    expect(none.status_codes).toEqual({ UNAUTHENTICATED: 50 });
    const readOnly = await sign("svc-reader", Scopes.read);
    const denied = await runLoad(base({ tls: tlsFiles(), token: () => readOnly }, 50));
    expect(denied.status_codes).toEqual({ PERMISSION_DENIED: 50 });
  });

  it("without a client certificate no call gets through; in plaintext it cannot even connect", async () => {
    const token = await sign("svc-loadtest");
    const noCert = await runLoad(base({ tls: { ca: readFileSync(ca.cert) }, token: () => token }, 20)).then(
      (report) => report.status_codes,
      (error: Error) => error.message,
    );
    expect(JSON.stringify(noCert)).not.toContain('"OK"');
    await expect(runLoad({ ...base({ token: () => token }, 20), connectTimeoutMs: 1000 })).rejects.toThrow(
      /cannot connect/,
    );
  });
});

/** The built CLI with only PATH and `env` in its environment (no ORDERLY_* of this process). */
function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runNode(cli, args, { env: { PATH: process.env.PATH, ...env } });
}

describe("pnpm loadtest with --ca/--cert/--key/--token-file or ORDERLY_* variables", () => {
  const common = () => ["--address", `localhost:${port}`, "--create-only", "-c", "4", "-n", "100", "--json"];

  it("flags: a JSON report of OK calls that says TLS, mTLS and a token file were used, and no secret", async () => {
    const token = await sign("svc-cli-flags");
    const tokenFile = join(dir, "cli.jwt");
    writeFileSync(tokenFile, `${token}\n`);
    const { code, stdout, stderr } = await runCli([
      ...common(),
      "--ca",
      ca.cert,
      "--cert",
      client.cert,
      "--key",
      client.key,
      "--token-file",
      tokenFile,
      "--slo",
      "errors<0.1%",
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as Report;
    expect(report.status_codes).toEqual({ OK: 100 });
    expect(report.options.security).toEqual({ tls: true, client_certificate: true, server_name: null, token: "file" });
    expect(stdout).not.toContain(token);
    expect(stdout).not.toContain(readFileSync(client.key, "utf8").split("\n")[1]);
  });

  it("environment: ORDERLY_CA_FILE, ORDERLY_CLIENT_CERT/KEY, ORDERLY_TLS_SERVER_NAME and ORDERLY_TOKEN", async () => {
    const token = await sign("svc-cli-env");
    subjects.length = 0;
    const { code, stdout, stderr } = await runCli(
      ["--address", `127.0.0.1:${port}`, "--create-only", "-c", "4", "-n", "100"],
      {
        ORDERLY_CA_FILE: ca.cert,
        ORDERLY_CLIENT_CERT: client.cert,
        ORDERLY_CLIENT_KEY: client.key,
        ORDERLY_TLS_SERVER_NAME: "localhost",
        ORDERLY_TOKEN: token,
      },
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("(TLS, mTLS, server name localhost, bearer token from env)");
    expect(stdout).toMatch(/\[OK\]\s+100 responses/);
    expect(stdout).not.toContain(token);
    expect(new Set(subjects)).toEqual(new Set(["svc-cli-env"]));
  });

  it("a bad setting exits 2 naming the file, not its content", async () => {
    const { code, stderr } = await runCli([...common(), "--cert", client.cert]);
    expect(code).toBe(2);
    expect(stderr).toContain("needs its key");
    const missing = await runCli([...common(), "--token-file", join(dir, "nope.jwt")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the token file .*nope\.jwt: ENOENT/);
  });
});
