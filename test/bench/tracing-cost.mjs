// Issue 16 figure: what OpenTelemetry tracing costs per command, on against off, in one run.
// Two command-service processes on the same test database: one without OTEL_* variables (tracing off: no SDK, no
// span work), one exporting by OTLP/HTTP (protobuf, the default) to a sink in this process that accepts and counts
// the spans' bytes. ONE load loop (this process) drives both, alternating rounds, closed loop with <in-flight>
// CreateOrder calls outstanding, each with a sampled `traceparent` header. Per side: calls/s and server CPU per
// command (utime + stime of the process from /proc, over the round). With tracing on each command records three
// spans in the command-service (the gRPC SERVER span, the append, and its share of a group commit). A third process,
// "sampled", traces with OTEL_TRACES_SAMPLER=traceidratio at 0.1 (ignoring the caller's sampled flag): one command in
// ten recorded.
// Usage (after pnpm build): node test/bench/tracing-cost.mjs [--seconds 5] [--warmup 2] [--in-flight 32] [--rounds 2]
// Prints one JSON object.
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createTestEnvironment, freePort, startService } from "@orderly/testing";
import { benchArgs } from "../../scripts/bench-args.mjs";

const values = benchArgs({ seconds: "5", warmup: "2", "in-flight": "32", rounds: "2" });
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);
const inFlight = Number(values["in-flight"]);
const rounds = Number(values.rounds);

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const ticks = 100; // USER_HZ on Linux

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

// The OTLP sink: accepts every export, counts requests and bytes.
const sink = { requests: 0, bytes: 0 };
const server = createServer((request, response) => {
  request.on("data", (chunk) => {
    sink.bytes += chunk.length;
  });
  request.on("end", () => {
    sink.requests++;
    response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
  });
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
const endpoint = `http://127.0.0.1:${server.address().port}`;

const env = await createTestEnvironment();
const services = [];
const result = { seconds, warmup, inFlight, rounds, loadavg: (await import("node:os")).loadavg(), sides: {} };
try {
  const definition = await protoLoader.load(["orderly/orders/v1/commands.proto"], {
    includeDirs: [join(root, "proto")],
    keepCase: true,
    longs: String,
    enums: String,
  });
  const CommandService = grpc.loadPackageDefinition(definition).orderly.orders.v1.CommandService;
  const sides = {};
  const sideEnv = {
    off: {},
    on: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint },
    sampled: {
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_TRACES_SAMPLER: "traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.1",
    },
  };
  const names = Object.keys(sideEnv);
  for (const side of names) {
    const port = await freePort();
    const metricsPort = await freePort();
    const service = await startService({
      name: `command-service-${side}`,
      entry: join(root, "services/command-service/dist/main.js"),
      env: {
        ...env.env,
        COMMAND_PORT: String(port),
        METRICS_PORT: String(metricsPort),
        LOG_LEVEL: "warn",
        ...sideEnv[side],
      },
      readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
      readyTimeoutMs: 60_000,
    });
    services.push(service);
    sides[side] = { service, client: new CommandService(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) };
  }

  const call = (client) =>
    new Promise((resolveCall, reject) => {
      const metadata = new grpc.Metadata();
      metadata.set("traceparent", `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`);
      client.CreateOrder(
        {
          idempotency_key: randomUUID(),
          customer_id: `bench-${randomUUID()}`,
          currency: "EUR",
          items: [{ sku: "SKU-1", quantity: 1, unit_price_minor: "500" }],
        },
        metadata,
        { deadline: Date.now() + 30_000 },
        (error) => (error ? reject(error) : resolveCall()),
      );
    });

  async function drive(client, durationSeconds) {
    let done = 0;
    const end = performance.now() + durationSeconds * 1000;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < end) {
          await call(client);
          done++;
        }
      }),
    );
    return done;
  }

  for (const side of names) await drive(sides[side].client, warmup);
  for (const side of names) result.sides[side] = { rounds: [] };
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? names : [...names].reverse()) {
      const { service, client } = sides[side];
      const cpuBefore = cpuSeconds(service.pid);
      const started = performance.now();
      const calls = await drive(client, seconds);
      const elapsed = (performance.now() - started) / 1000;
      const cpu = cpuSeconds(service.pid) - cpuBefore;
      result.sides[side].rounds.push({
        callsPerSecond: Math.round(calls / elapsed),
        cpuMicrosPerCommand: Math.round((cpu / calls) * 1e6),
      });
    }
  }
  for (const side of names) {
    const r = result.sides[side].rounds;
    result.sides[side].bestCallsPerSecond = Math.max(...r.map((x) => x.callsPerSecond));
    result.sides[side].bestCpuMicrosPerCommand = Math.min(...r.map((x) => x.cpuMicrosPerCommand));
  }
  const { off } = result.sides;
  result.ratio = {};
  for (const side of ["on", "sampled"]) {
    const s = result.sides[side];
    result.ratio[side] = {
      callsPerSecondOverOff: Number((s.bestCallsPerSecond / off.bestCallsPerSecond).toFixed(3)),
      cpuPerCommandOverOff: Number((s.bestCpuMicrosPerCommand / off.bestCpuMicrosPerCommand).toFixed(3)),
      extraCpuMicrosPerCommand: s.bestCpuMicrosPerCommand - off.bestCpuMicrosPerCommand,
    };
  }
  // Let the last spans go out, then report what the sink saw.
  await new Promise((r) => setTimeout(r, 6_000));
  result.sink = { ...sink };
  for (const side of names) sides[side].client.close();
} finally {
  for (const service of services) await service.stop();
  await env.cleanup();
  server.closeAllConnections();
  server.close();
}
console.log(JSON.stringify(result, null, 2));
