import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect as tlsConnect } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { QueryService } from "@orderly/contracts";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcServiceDefinition } from "./binding.js";
import { type CertificateFiles, createCertificateAuthority, issueCertificate } from "./dev-pki.js";
import { GrpcServer } from "./server.js";
import type { ServerTlsOptions } from "./tls.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
const dir = mkdtempSync(join(tmpdir(), "orderly-tls-"));

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

let ca: CertificateFiles;
let otherCa: CertificateFiles;
let serverCert: CertificateFiles;
let client: CertificateFiles;
let foreignClient: CertificateFiles;

beforeAll(() => {
  ca = createCertificateAuthority(dir, "ca");
  otherCa = createCertificateAuthority(dir, "other-ca");
  serverCert = issueCertificate(ca, dir, "server", { commonName: "localhost", hosts: ["localhost", "127.0.0.1"] });
  client = issueCertificate(ca, dir, "client", { commonName: "svc-checkout", usage: "client" });
  foreignClient = issueCertificate(otherCa, dir, "foreign-client", { commonName: "svc-checkout", usage: "client" });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function queryServer(tls: ServerTlsOptions): GrpcServer {
  const server = new GrpcServer({ name: "tls-test", logger, tls, reflection: false });
  server.addService(QueryService, {
    getOrderSummary: (request, ctx) => ({
      summary: { orderId: request.orderId, customerId: ctx.clientCertificateSubject ?? "c-1" },
    }),
    listCustomerOrders: () => ({}),
    async *waitForPosition(_request, ctx) {
      for (let i = 1n; ; i++) {
        yield { readModels: [{ readModel: "p", position: i }] };
        await sleep(20, undefined, { signal: ctx.signal });
      }
    },
  });
  return server;
}

function queryClient(port: number, credentials: grpc.ChannelCredentials): Client {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(QueryService), "QueryService");
  return new Ctor(`localhost:${port}`, credentials) as unknown as Client;
}

function tlsCredentials(caFile: string, identity?: CertificateFiles): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    readFileSync(caFile),
    identity ? readFileSync(identity.key) : null,
    identity ? readFileSync(identity.cert) : null,
  );
}

function getSummary(c: Client, orderId = "o-1"): Promise<{ summary?: { orderId: string; customerId: string } }> {
  return new Promise((resolve, reject) => {
    const fn = c.getOrderSummary as (...a: unknown[]) => unknown;
    fn.call(c, { orderId }, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (e: unknown, v: never) =>
      e ? reject(e) : resolve(v),
    );
  });
}

async function code(promise: Promise<unknown>): Promise<grpc.status> {
  try {
    await promise;
  } catch (error) {
    return (error as grpc.ServiceError).code;
  }
  throw new Error("expected the call to fail");
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to the port is given. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ALPNProtocols: ["h2"], rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on("error", reject);
  });
}

describe("GrpcServer with TLS", () => {
  let server: GrpcServer;
  let port: number;

  beforeAll(async () => {
    server = queryServer({ certFile: serverCert.cert, keyFile: serverCert.key });
    port = await server.listen(0, "127.0.0.1");
  });
  afterAll(() => server.shutdown({ graceMs: 100 }));

  it("serves a client that trusts its CA", async () => {
    const c = queryClient(port, tlsCredentials(ca.cert));
    expect((await getSummary(c)).summary?.orderId).toBe("o-1");
    c.close();
  });

  it("refuses plaintext: UNAVAILABLE, no call reaches a handler", async () => {
    const c = queryClient(port, grpc.credentials.createInsecure());
    expect(await code(getSummary(c))).toBe(grpc.status.UNAVAILABLE);
    c.close();
  });

  it("is refused by a client that does not trust its CA", async () => {
    const c = queryClient(port, tlsCredentials(otherCa.cert));
    expect(await code(getSummary(c))).toBe(grpc.status.UNAVAILABLE);
    c.close();
  });
});

describe("GrpcServer with mTLS", () => {
  let server: GrpcServer;
  let port: number;

  beforeAll(async () => {
    server = queryServer({ certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile: ca.cert });
    port = await server.listen(0, "127.0.0.1");
  });
  afterAll(() => server.shutdown({ graceMs: 100 }));

  it("serves a client with a certificate from the client CA, and tells the handler its subject", async () => {
    const c = queryClient(port, tlsCredentials(ca.cert, client));
    expect((await getSummary(c)).summary).toMatchObject({ orderId: "o-1", customerId: "CN=svc-checkout" });
    c.close();
  });

  it("refuses a client without a certificate, with one from another CA, and plaintext: UNAVAILABLE", async () => {
    for (const credentials of [
      tlsCredentials(ca.cert),
      tlsCredentials(ca.cert, foreignClient),
      grpc.credentials.createInsecure(),
    ]) {
      const c = queryClient(port, credentials);
      expect(await code(getSummary(c))).toBe(grpc.status.UNAVAILABLE);
      c.close();
    }
  });
});

describe("GrpcServer TLS start-up checks", () => {
  it("refuses to start with a key that does not match the certificate, naming the files, not the key", () => {
    expect(() => queryServer({ certFile: serverCert.cert, keyFile: client.key })).toThrow(/do not make a TLS context/);
    expect(() => queryServer({ certFile: join(dir, "missing.crt"), keyFile: serverCert.key })).toThrow(
      /cannot read the TLS certificate .*missing\.crt/,
    );
  });
});

describe("GrpcServer TLS rotation", () => {
  it("serves the new certificate to new connections while a stream on the old one goes on", async () => {
    const live = join(dir, "rotating");
    const files = { cert: `${live}.crt`, key: `${live}.key` };
    copyFileSync(serverCert.cert, files.cert);
    copyFileSync(serverCert.key, files.key);
    const server = queryServer({ certFile: files.cert, keyFile: files.key, refreshIntervalMs: 100 });
    const port = await server.listen(0, "127.0.0.1");
    try {
      const before = await servedFingerprint(port);
      const oldClient = queryClient(port, tlsCredentials(ca.cert));
      const stream = (oldClient.waitForPosition as (...a: unknown[]) => grpc.ClientReadableStream<unknown>).call(
        oldClient,
        { minPosition: 0n },
      );
      let received = 0;
      let streamError: unknown;
      stream.on("data", () => received++);
      stream.on("error", (error) => {
        streamError = error;
      });
      while (received < 3) await sleep(10);

      // The new certificate comes from another CA, so which one a connection got is plain from who can connect.
      const rotated = issueCertificate(otherCa, dir, "server-2", {
        commonName: "localhost",
        hosts: ["localhost", "127.0.0.1"],
      });
      copyFileSync(rotated.key, `${files.key}.new`);
      copyFileSync(rotated.cert, `${files.cert}.new`);
      renameSync(`${files.key}.new`, files.key);
      renameSync(`${files.cert}.new`, files.cert);

      const deadline = Date.now() + 15_000;
      let after = before;
      while (after === before && Date.now() < deadline) {
        await sleep(50);
        after = await servedFingerprint(port).catch(() => before);
      }
      expect(after).not.toBe(before);

      const newClient = queryClient(port, tlsCredentials(otherCa.cert));
      expect((await getSummary(newClient, "o-2")).summary?.orderId).toBe("o-2");
      const staleClient = queryClient(port, tlsCredentials(ca.cert));
      expect(await code(getSummary(staleClient))).toBe(grpc.status.UNAVAILABLE);

      // The stream opened before the rotation is still delivering.
      const seen = received;
      while (received < seen + 3 && streamError === undefined) await sleep(10);
      expect(streamError).toBeUndefined();
      stream.cancel();
      for (const c of [oldClient, newClient, staleClient]) c.close();
    } finally {
      await server.shutdown({ graceMs: 100 });
    }
  });
});
