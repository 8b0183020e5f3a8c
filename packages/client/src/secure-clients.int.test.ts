import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { CommandService } from "@orderly/contracts";
import { UnavailableError } from "@orderly/eventsourcing";
import { createCertificateAuthority, GrpcServer, issueCertificate, Scopes } from "@orderly/grpc-server";
import { SignJWT } from "jose";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCommandClient } from "./clients.js";

const dir = mkdtempSync(join(tmpdir(), "orderly-client-tls-"));
const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const publicKeyFile = join(dir, "jwt.pem");
writeFileSync(publicKeyFile, keys.publicKey.export({ type: "spki", format: "pem" }));

let issued = 0;
function token(): Promise<string> {
  issued++;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: "iss",
    aud: "orderly",
    sub: "svc-checkout",
    exp: now + 300,
    scope: Scopes.write,
    n: issued,
  })
    .setProtectedHeader({ alg: "ES256" })
    .sign(keys.privateKey);
}

describe("Orderly clients over mTLS with a token provider", () => {
  const ca = createCertificateAuthority(dir, "ca");
  const serverCert = issueCertificate(ca, dir, "server", {
    commonName: "localhost",
    hosts: ["localhost", "127.0.0.1"],
  });
  const clientCert = issueCertificate(ca, dir, "client", { commonName: "svc-checkout", usage: "client" });
  const server = new GrpcServer({
    name: "secure-client-test",
    logger: pino({ level: "silent" }),
    reflection: false,
    tls: { certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile: ca.cert },
    auth: { publicKeyFile, issuer: "iss", audience: "orderly" },
  });
  let unavailableLeft = 0;
  const subjects: (string | undefined)[] = [];
  let baseUrl = "";

  beforeAll(async () => {
    server.addService(
      CommandService,
      {
        createOrder(request, ctx) {
          subjects.push(ctx.principal?.subject);
          if (unavailableLeft-- > 0) throw new UnavailableError("restarting");
          return { accepted: { orderId: request.orderId, commandId: request.idempotencyKey, position: 1n } };
        },
        updatePaymentStatus: () => ({}),
        shipOrder: () => ({}),
        cancelOrder: () => ({}),
      },
      { scope: Scopes.write },
    );
    const port = await server.listen(0, "127.0.0.1");
    baseUrl = `https://localhost:${port}`;
  });
  afterAll(async () => {
    await server.shutdown({ graceMs: 500 });
    rmSync(dir, { recursive: true, force: true });
  });

  const tls = () => ({
    ca: readFileSync(ca.cert),
    cert: readFileSync(clientCert.cert),
    key: readFileSync(clientCert.key),
  });

  it("calls with TLS options and asks the provider for a token on every attempt", async () => {
    const client = createCommandClient({ baseUrl, tls: tls(), token, retry: { initialBackoffMs: 1 } });
    const before = issued;
    unavailableLeft = 1;
    const reply = await client.createOrder({ idempotencyKey: "k-1", orderId: "o-1", customerId: "c" });
    expect(reply.accepted?.orderId).toBe("o-1");
    expect(issued - before).toBe(2); // the first attempt and its retry
    expect(subjects.at(-1)).toBe("svc-checkout");
  });

  it("is refused without a token (UNAUTHENTICATED) and, before any handler, without a client certificate", async () => {
    const noToken = createCommandClient({ baseUrl, tls: tls(), retry: false });
    const error = await noToken.createOrder({ idempotencyKey: "k-2", customerId: "c" }).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.Unauthenticated);
    const noCert = createCommandClient({ baseUrl, tls: { ca: readFileSync(ca.cert) }, token, retry: false });
    const calls = subjects.length;
    const refused = await noCert.createOrder({ idempotencyKey: "k-3", customerId: "c" }).catch((e: unknown) => e);
    // The server ends the handshake with a TLS alert; connect-node reports that as INTERNAL (grpc-js: UNAVAILABLE).
    expect([Code.Unavailable, Code.Internal]).toContain(ConnectError.from(refused).code);
    expect(subjects.length).toBe(calls); // no handler ran
  });

  it("refuses TLS options with a plaintext URL", () => {
    expect(() => createCommandClient({ baseUrl: "http://127.0.0.1:1", tls: tls() })).toThrow(/https/);
  });
});
