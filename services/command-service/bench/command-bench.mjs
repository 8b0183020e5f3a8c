// CommandService benchmark: in one run, from this load process (separate from the servers),
//   1. the RPC ceiling: CreateOrder against the same gRPC stack returning a canned reply (no database);
//   2. Orderly: CreateOrder through gRPC into the Postgres event store, unique idempotency keys, closed loop;
//   3. latency at half of Orderly's maximum rate (open loop, paced; latency from the intended send time).
// Prints one JSON object on one line (the last of stdout). Each closed loop runs BENCH_ROUNDS times, alternating
// targets, and the best round counts.
// Options (env): BENCH_SECONDS (default 10), BENCH_OPEN_SECONDS (the paced runs, default 20: a p99 needs the samples),
// BENCH_ROUNDS (2), BENCH_CONCURRENCY (64), BENCH_CHANNELS (2),
// BENCH_PROFILE_DIR (write a V8 CPU profile of the command service there; summarise it with bench/profile-summary.mjs).
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ProtoWriter } from "@orderly/event-bus";
import { createTestEnvironment, freePort, startService } from "@orderly/testing";
import { protoLoaderOptions } from "../../../scripts/bench-protos.mjs";
import { encodeCreateOrder } from "../dist/request-hash.js";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const openSeconds = Number(process.env.BENCH_OPEN_SECONDS ?? 20);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 64);
const channels = Number(process.env.BENCH_CHANNELS ?? 2);
const warmupSeconds = Math.min(3, seconds / 3);

const definition = protoLoader.loadSync(["orderly/orders/v1/commands.proto"], protoLoaderOptions);
const { CommandService } = grpc.loadPackageDefinition(definition).orderly.orders.v1;

let sequence = 0;
const runId = `${process.pid}-${Date.now()}`;
const plainRequest = () => {
  sequence++;
  return {
    idempotencyKey: `bench-${runId}-${sequence}`,
    orderId: "",
    customerId: `customer-${sequence % 1000}`,
    currency: "EUR",
    items: [
      { sku: "SKU-1", quantity: 2, unitPriceMinor: 1250n },
      { sku: "SKU-2", quantity: 1, unitPriceMinor: 500n },
    ],
  };
};

// The load client is lean so that the servers, not the client, are what is measured: requests are encoded by the
// service's own canonical encoder (byte-identical to protobuf-es, see request-hash.test.ts) and replies are counted,
// not decoded. `checkReply` decodes one reply per target with proto-loader to make sure the calls are real.
function requestBytes() {
  const writer = new ProtoWriter();
  writer.begin();
  encodeCreateOrder(plainRequest())(writer);
  return Buffer.from(writer.finish());
}
const identity = (bytes) => bytes;
const createOrderPath = "/orderly.orders.v1.CommandService/CreateOrder";

function clients(address) {
  // Distinct channel options force separate HTTP/2 connections.
  return Array.from(
    { length: channels },
    (_, i) => new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.bench_channel": i }),
  );
}

function createOrder(client) {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      createOrderPath,
      identity,
      identity,
      requestBytes(),
      { deadline: Date.now() + 30_000 },
      (error, reply) => (error ? reject(error) : resolve(reply)),
    );
  });
}

/** One CreateOrder through a proto-loader client: the reply must be a real CommandAccepted. */
async function checkReply(address) {
  const client = new CommandService(address, grpc.credentials.createInsecure());
  const { idempotencyKey, customerId, currency, items } = plainRequest();
  const request = {
    idempotency_key: idempotencyKey,
    customer_id: customerId,
    currency,
    items: items.map((i) => ({ sku: i.sku, quantity: i.quantity, unit_price_minor: String(i.unitPriceMinor) })),
  };
  const reply = await new Promise((resolve, reject) =>
    client.CreateOrder(request, (error, r) => (error ? reject(error) : resolve(r))),
  );
  client.close();
  if (reply.accepted?.stream_version !== "1" || reply.accepted.duplicate !== false) {
    throw new Error(`unexpected reply from ${address}: ${JSON.stringify(reply)}`);
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(latenciesMs) {
  const sorted = Float64Array.from(latenciesMs).sort();
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  return {
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted.at(-1) ?? null),
  };
}

/** CPU seconds (user + system) a process has used so far (Linux /proc; clock ticks of 10 ms). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds used so far by each Postgres process on this machine (the benchmark's database is the only busy one). */
function postgresCpu() {
  const byPid = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/stat`, "utf8").includes(" (postgres) ")) byPid.set(entry, cpuSeconds(entry));
    } catch {
      // The process has gone.
    }
  }
  return byPid;
}

/** Postgres CPU seconds between two `postgresCpu()` readings: processes that ended in between count for nothing. */
function postgresCpuSince(before) {
  let total = 0;
  for (const [pid, seconds] of postgresCpu()) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/**
 * Closed loop: `concurrency` calls always in flight for `durationS`; counts completions after the warm-up. With
 * `serverPid`, also the server's CPU time per call (the machine is shared: CPU per call is steadier than calls/s), and
 * `withPostgres`, Postgres's.
 */
async function closedLoop(address, durationS, serverPid, withPostgres = false) {
  const pool = clients(address);
  const warmupEnd = performance.now() + warmupSeconds * 1000;
  const end = warmupEnd + durationS * 1000;
  let ok = 0;
  let errors = 0;
  const latencies = [];
  let firstError;
  let cpuAtWarmupEnd;
  let clientCpuAtWarmupEnd;
  let postgresAtWarmupEnd;
  const warmupTimer = setTimeout(() => {
    cpuAtWarmupEnd = cpuSeconds(serverPid);
    clientCpuAtWarmupEnd = process.cpuUsage();
    postgresAtWarmupEnd = postgresCpu();
  }, warmupSeconds * 1000);
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const client = pool[worker % pool.length];
      while (performance.now() < end) {
        const started = performance.now();
        try {
          await createOrder(client);
          if (started >= warmupEnd) {
            ok++;
            latencies.push(performance.now() - started);
          }
        } catch (error) {
          errors++;
          firstError ??= `${error.code} ${error.details}`;
        }
      }
    }),
  );
  clearTimeout(warmupTimer);
  const serverCpu = cpuSeconds(serverPid) - cpuAtWarmupEnd;
  const clientCpu = process.cpuUsage(clientCpuAtWarmupEnd);
  const postgresSeconds = postgresCpuSince(postgresAtWarmupEnd);
  for (const c of pool) c.close();
  return {
    calls_per_s: Math.round(ok / durationS),
    errors,
    first_error: firstError,
    ...summary(latencies),
    server_cpu_us_per_call: Math.round((serverCpu / ok) * 1e6),
    load_client_cpu_us_per_call: Math.round((clientCpu.user + clientCpu.system) / ok),
    ...(withPostgres ? { postgres_cpu_us_per_call: Math.round((postgresSeconds / ok) * 1e6) } : {}),
  };
}

/** Open loop at `rate` calls/s for `durationS`, latency from each call's intended start. */
async function openLoop(address, rate, durationS) {
  const pool = clients(address);
  const latencies = [];
  let errors = 0;
  const pending = [];
  const start = performance.now();
  const total = Math.round(rate * durationS);
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) / 1000) * rate));
      while (sent < due) {
        const intended = start + (sent / rate) * 1000;
        const client = pool[sent % pool.length];
        sent++;
        pending.push(
          createOrder(client).then(
            () => latencies.push(performance.now() - intended),
            () => errors++,
          ),
        );
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(pending);
  for (const c of pool) c.close();
  return { rate_per_s: Math.round(rate), calls: latencies.length, errors, ...summary(latencies) };
}

const scrape = async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

/** Cumulative counts per `le` bucket of histogram `name` in one scrape, over the series whose labels match. */
function buckets(metrics, name, labelsMatch = () => true) {
  const counts = new Map();
  for (const [, labels, value] of metrics.matchAll(new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\S+)$`, "gm"))) {
    if (!labelsMatch(labels)) continue;
    const le = labels.match(/le="([^"]+)"/)[1];
    counts.set(le, (counts.get(le) ?? 0) + Number(value));
  }
  return counts;
}

/** Between two scrapes of a histogram: the share of observations within 10 and 25 ms, and the bucket holding p99. */
function histogramShare(before, after) {
  const count = (le) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = count("+Inf");
  const bounds = [...after.keys()].filter((le) => le !== "+Inf").sort((x, y) => Number(x) - Number(y));
  const p99Bound = bounds.find((le) => count(le) >= 0.99 * total);
  const share = (le) => Math.round((count(le) / total) * 10000) / 100;
  return {
    count: total,
    within_10ms_pct: share("0.01"),
    within_25ms_pct: share("0.025"),
    p99_at_most_ms: p99Bound === undefined ? null : Number(p99Bound) * 1000,
  };
}

/**
 * The command service's own share of the open loop's latency, from its histograms: each CreateOrder from request to
 * reply, and each append transaction (the Postgres round trip a command waits for, or two when it queues behind one).
 */
function serviceSide(before, after) {
  const createOrder = (labels) => labels.includes('command="CreateOrder"');
  return {
    create_order: histogramShare(
      buckets(before, "orderly_command_duration_seconds", createOrder),
      buckets(after, "orderly_command_duration_seconds", createOrder),
    ),
    append_transaction: histogramShare(
      buckets(before, "orderly_event_store_append_seconds"),
      buckets(after, "orderly_event_store_append_seconds"),
    ),
  };
}

async function main() {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  const figures = { seconds, open_loop_seconds: openSeconds, rounds, concurrency, channels };

  // Both targets run side by side; rounds alternate between them so that the shared machine's drift hits both.
  const cannedPort = await freePort();
  const canned = await startService({
    name: "canned",
    entry: fileURLToPath(new URL("./canned-server.mjs", import.meta.url)),
    env: { COMMAND_PORT: String(cannedPort) },
    readyLine: /canned server ready/,
  });
  const env = await createTestEnvironment();
  const commandPort = await freePort();
  const metricsPort = await freePort();
  const service = await startService({
    name: "command-service",
    entry: fileURLToPath(
      new URL(process.env.BENCH_PROFILE_DIR ? "./profiled-main.mjs" : "../dist/main.js", import.meta.url),
    ),
    env: {
      ...env.env,
      COMMAND_PORT: String(commandPort),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: "warn",
      ...(process.env.BENCH_PROFILE_DIR ? { PROFILE_DIR: process.env.BENCH_PROFILE_DIR } : {}),
    },
    readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
    readyTimeoutMs: 60_000,
  });
  try {
    const address = `127.0.0.1:${commandPort}`;
    const best = (runs) => runs.reduce((a, b) => (b.calls_per_s > a.calls_per_s ? b : a));
    await checkReply(`127.0.0.1:${cannedPort}`);
    await checkReply(address);
    const ceilingRuns = [];
    const orderlyRuns = [];
    for (let round = 0; round < rounds; round++) {
      ceilingRuns.push(await closedLoop(`127.0.0.1:${cannedPort}`, seconds, canned.pid));
      const profile = process.env.BENCH_PROFILE_DIR && round === 0;
      if (profile) process.kill(service.pid, "SIGUSR2");
      orderlyRuns.push(await closedLoop(address, seconds, service.pid, true));
      if (profile) process.kill(service.pid, "SIGUSR2");
    }
    figures.rpc_ceiling = { ...best(ceilingRuns), rounds_calls_per_s: ceilingRuns.map((r) => r.calls_per_s) };
    figures.orderly = { ...best(orderlyRuns), rounds_calls_per_s: orderlyRuns.map((r) => r.calls_per_s) };
    figures.ratio_to_rpc_ceiling =
      Math.round((figures.orderly.calls_per_s / figures.rpc_ceiling.calls_per_s) * 100) / 100;
    const before = await scrape(metricsPort);
    figures.orderly_at_half_max = await openLoop(address, figures.orderly.calls_per_s / 2, openSeconds);
    // Orderly's own share of that latency: the command service's time from request to reply (its histogram), the
    // rest being the RPC stack, the load process and the machine — which the canned server's run below shows alone.
    figures.orderly_at_half_max.service_side = serviceSide(before, await scrape(metricsPort));
    // The same open loop against the canned server: the latency the RPC stack and this load process alone show at
    // that rate on this machine (the floor under Orderly's figure).
    figures.rpc_ceiling_at_same_rate = await openLoop(
      `127.0.0.1:${cannedPort}`,
      figures.orderly.calls_per_s / 2,
      openSeconds,
    );
    // Group commit over the whole run: how many commands shared one append transaction.
    const metrics = await scrape(metricsPort);
    const counter = (name) => Number(metrics.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
    figures.commands_per_append_transaction =
      Math.round(
        (counter("orderly_event_store_append_commands_total") / counter("orderly_event_store_append_batches_total")) *
          10,
      ) / 10;
  } finally {
    await service.stop();
    await canned.stop();
    await env.cleanup();
  }
  figures.goals = {
    ratio_to_rpc_ceiling_at_least: 0.7,
    p99_at_half_max_ms_at_most: 25,
    ratio_met: figures.ratio_to_rpc_ceiling >= 0.7,
    p99_met: figures.orderly_at_half_max.p99_ms !== null && figures.orderly_at_half_max.p99_ms <= 25,
  };
  console.log(JSON.stringify(figures));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
