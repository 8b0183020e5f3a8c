// Issue 15 figures: what TLS + mTLS + JWT cost at the gRPC edge, against plaintext without auth, in one run.
// Two server processes of this script (one plaintext without auth, one with TLS, client certificates and JWT bearer
// verification) serve CommandService.CreateOrder and QueryService.GetOrderSummary with trivial handlers, so the edge
// is all that is measured (the worst case for the ratio: the real stack spends most of a call in Postgres). ONE load
// process (this one) drives both, alternating, closed loop with <in-flight> calls outstanding, the same token reused
// (a service keeps its token for its lifetime; the server verifies it once and then finds it in its cache).
// Also measured here: one JWT signature verification (cache miss) and a cache hit, in µs; a TLS handshake with a
// client certificate vs a TCP connect, in ms.
// Usage: node bench/security.mjs [--seconds 4] [--warmup 2] [--in-flight 64] [--rounds 2]   (after pnpm build)
// Prints one JSON object.
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { CommandService, QueryService } from "@orderly/contracts";
import { SignJWT } from "jose";
import pino from "pino";
import { benchArgs } from "../../../scripts/bench-args.mjs";
import {
  createCertificateAuthority,
  GrpcServer,
  grpcServiceDefinition,
  issueCertificate,
  Scopes,
} from "../dist/index.js";
import { addStubService } from "../dist/testing.js";
import { handshakeCost, verificationCost } from "./security-costs.mjs";

const ISSUER = "bench-issuer";
const AUDIENCE = "orderly";

if (process.argv[2] === "serve") {
  await serve(JSON.parse(process.argv[3]));
} else {
  await main();
}

async function serve(settings) {
  const server = new GrpcServer({
    name: "bench",
    logger: pino({ level: "silent" }),
    reflection: false,
    tls: settings.tls,
    auth: settings.auth,
  });
  addStubService(
    server,
    CommandService,
    {
      createOrder: (request) => ({
        accepted: { orderId: request.orderId, commandId: request.idempotencyKey, streamVersion: 1n, position: 7n },
      }),
    },
    { scope: Scopes.write },
  );
  addStubService(
    server,
    QueryService,
    {
      getOrderSummary: (request) => ({
        summary: { orderId: request.orderId, customerId: "c-1", totalMinor: 1234n, itemCount: 2 },
      }),
    },
    { scope: Scopes.read },
  );
  const port = await server.listen(0, "127.0.0.1");
  process.stdout.write(`port ${port}\n`);
  process.stdin.resume();
  await once(process.stdin, "end");
  await server.shutdown({ graceMs: 100 });
}

async function main() {
  const values = benchArgs({ seconds: "4", warmup: "2", "in-flight": "64", rounds: "2" });
  const measureMs = Number(values.seconds) * 1000;
  const warmupMs = Number(values.warmup) * 1000;
  const inFlight = Number(values["in-flight"]);
  const rounds = Number(values.rounds);

  const dir = mkdtempSync(join(tmpdir(), "orderly-bench-security-"));
  try {
    const ca = createCertificateAuthority(dir, "ca");
    const serverCert = issueCertificate(ca, dir, "server", {
      commonName: "localhost",
      hosts: ["localhost", "127.0.0.1"],
    });
    const clientCert = issueCertificate(ca, dir, "client", { commonName: "bench", usage: "client" });
    const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const publicKeyFile = join(dir, "jwt.pem");
    writeFileSync(publicKeyFile, keys.publicKey.export({ type: "spki", format: "pem" }));
    const auth = { publicKeyFile, issuer: ISSUER, audience: AUDIENCE };
    const sign = (n = 0) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ scope: `${Scopes.write} ${Scopes.read}`, n })
        .setProtectedHeader({ alg: "ES256" })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject("bench")
        .setExpirationTime(now + 3600)
        .sign(keys.privateKey);
    };

    const plain = await startServer({});
    const secure = await startServer({
      tls: { certFile: serverCert.cert, keyFile: serverCert.key, clientCaFile: ca.cert },
      auth,
    });
    const token = await sign();
    const modes = {
      plaintext: {
        port: plain.port,
        credentials: grpc.credentials.createInsecure(),
        metadata: new grpc.Metadata(),
      },
      "tls+mtls+jwt": {
        port: secure.port,
        credentials: grpc.credentials.createSsl(
          readFileSync(ca.cert),
          readFileSync(clientCert.key),
          readFileSync(clientCert.cert),
        ),
        metadata: (() => {
          const m = new grpc.Metadata();
          m.set("authorization", `Bearer ${token}`);
          return m;
        })(),
      },
    };
    const rpcs = {
      CreateOrder: { service: CommandService, method: "createOrder", request: createOrderRequest() },
      GetOrderSummary: {
        service: QueryService,
        method: "getOrderSummary",
        request: { orderId: "0b8a2f5e-1c1d-4c4e-9a3b-2f6d1e0c9b7a" },
      },
    };

    const runs = {};
    for (let round = 0; round < rounds; round++) {
      for (const [rpcName, rpc] of Object.entries(rpcs)) {
        for (const [modeName, mode] of Object.entries(modes)) {
          const rps = await load(mode, rpc, inFlight, warmupMs, measureMs);
          const byMode = runs[rpcName] ?? {};
          runs[rpcName] = byMode;
          byMode[modeName] = [...(byMode[modeName] ?? []), rps];
        }
      }
    }
    const throughput = {};
    for (const [rpcName, byMode] of Object.entries(runs)) {
      const best = (list) => Math.max(...list);
      const plainRps = best(byMode.plaintext);
      const secureRps = best(byMode["tls+mtls+jwt"]);
      throughput[rpcName] = {
        plaintextCallsPerSecond: Math.round(plainRps),
        secureCallsPerSecond: Math.round(secureRps),
        ratio: Number((secureRps / plainRps).toFixed(3)),
        rounds: byMode,
      };
    }

    const verification = await verificationCost(auth, sign);
    const handshake = await handshakeCost(plain.port, secure.port, ca, clientCert);
    plain.stop();
    secure.stop();
    await Promise.all([plain.exited, secure.exited]);
    process.stdout.write(
      `${JSON.stringify({ inFlight, measureSeconds: measureMs / 1000, rounds, throughput, verification, handshake }, null, 2)}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function createOrderRequest() {
  return {
    idempotencyKey: "bench-key-0001",
    orderId: "0b8a2f5e-1c1d-4c4e-9a3b-2f6d1e0c9b7a",
    customerId: "c-1",
    currency: "EUR",
    items: [{ sku: "sku-1", quantity: 2, unitPriceMinor: 990n }],
  };
}

async function startServer(settings) {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [script, "serve", JSON.stringify(settings)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const [line] = await once(lines, "line");
  return {
    port: Number(String(line).replace(/^port /, "")),
    exited: once(child, "exit"),
    stop: () => child.stdin.end(),
  };
}

/** Calls per second of one RPC in one mode: a fresh channel, a warm-up, then a measured closed loop. */
async function load(mode, rpc, inFlight, warmupMs, measureMs) {
  const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(rpc.service), rpc.service.name);
  const client = new Client(`localhost:${mode.port}`, mode.credentials);
  let counting = false;
  let calls = 0;
  let errors = 0;
  let stopAt = Date.now() + warmupMs;
  const call = () =>
    new Promise((resolve) => {
      client[rpc.method](rpc.request, mode.metadata, (error) => {
        if (counting) {
          if (error) errors++;
          else calls++;
        }
        resolve();
      });
    });
  const loop = async () => {
    while (Date.now() < stopAt) await call();
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  counting = true;
  const started = process.hrtime.bigint();
  stopAt = Date.now() + measureMs;
  await Promise.all(Array.from({ length: inFlight }, loop));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  client.close();
  if (errors > 0) throw new Error(`${errors} calls failed in ${rpc.method}`);
  return calls / seconds;
}
