// Catch-up drain rate of a backlog with 1, 2 and 4 partitions (issue 17, ADR 0019), in one run so the ratios compare.
// Run after `pnpm build`: `node packages/order-read-models/bench/partitions-bench.mjs`.
// env: BENCH_PARTITION_EVENTS=200000 (the backlog), BENCH_PARTITION_COUNTS=1,2,4, BENCH_PARTITION_ROUNDS=1 (rounds
//      alternate the order: 1,2,4 then 4,2,1, so a drift of the machine's load does not favour one count),
//      BENCH_PARTITION_MODELS=read_only,order_summaries,customer_orders (read_only: the log read in catch-up pages by
//      one process, nothing applied — the floor every partition pays, for the model in docs/scaling.md).
//
// A fresh database gets the backlog (generated inside Postgres, bench/generate-event-log.mjs). For each read model and
// each count N, the read model is emptied and laid out for N partitions, then N processes start — one per partition,
// each a real Projector over the real projection, catching up from the event store as a projector does after an
// outage (pages of PROJECTOR_CATCH_UP_BATCH_SIZE = 2000 events, each partition reading the whole log and applying its
// orders) — and the clock runs from "go" until every partition's checkpoint is at the head. Reported: events/s of the
// whole read model (backlog / wall time), the ratio to N = 1 of the same run, the CPU seconds the projector
// processes spent (user + system), and the load average. Prints one JSON object on its last line.
import { fork } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { createPool, PostgresEventLog } from "@orderly/event-store-postgres";
import {
  CustomerOrdersProjection,
  customerOrdersKeys,
  dropGenerationKeys,
  ensurePostgresLayout,
  ORDER_SUMMARIES,
  ORDER_SUMMARIES_VERSION,
  OrderSummariesProjection,
} from "@orderly/order-read-models";
import { Projector } from "@orderly/projector";
import { Redis } from "ioredis";

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === "child") await child();
else await parent();

async function child() {
  const [, , , model, index, count, namespace, databaseUrl, redisUrl] = process.argv;
  const partition = { index: Number(index), count: Number(count) };
  const pool = createPool(databaseUrl, { max: 3 });
  const redis = model === "customer_orders" ? new Redis(redisUrl) : undefined;
  const projection =
    model !== "customer_orders"
      ? new OrderSummariesProjection(pool, { partition })
      : new CustomerOrdersProjection(redis, { namespace, partition });
  const eventLog = new PostgresEventLog(pool);
  const head = await eventLog.headPosition();
  const projector = new Projector({ projection, eventLog, tickMs: 20 });
  process.send({ ready: true });
  await new Promise((resolve) => process.once("message", resolve));
  const cpu = process.cpuUsage();
  if (model === "read_only") {
    // The floor every partition pays: the whole log read in catch-up pages, nothing applied.
    for (let at = 0; at < head; ) at = (await eventLog.readAll(at, 2000)).at(-1)?.position ?? head;
  } else {
    await projector.start();
    while (projector.status().checkpoint < head) await new Promise((r) => setTimeout(r, 10));
  }
  const used = process.cpuUsage(cpu);
  process.send({ done: true, cpuSeconds: (used.user + used.system) / 1e6 });
  await projector.stop();
  redis?.disconnect();
  await pool.end();
  process.exit(0);
}

async function parent() {
  const { benchLog, openBenchStores } = await import("./harness.mjs");
  const { generateEventLog } = await import("./generate-event-log.mjs");
  const EVENTS = Number(process.env.BENCH_PARTITION_EVENTS ?? 200_000);
  const COUNTS = (process.env.BENCH_PARTITION_COUNTS ?? "1,2,4").split(",").map(Number);
  const ROUNDS = Number(process.env.BENCH_PARTITION_ROUNDS ?? 1);
  const MODELS = (process.env.BENCH_PARTITION_MODELS ?? "read_only,order_summaries,customer_orders").split(",");
  const log = benchLog("partitions-bench");
  const { env, pool, redis, close } = await openBenchStores(4);
  const results = [];
  try {
    const head = await generateEventLog(pool, EVENTS);
    log(
      `${head} events in the log; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );
    for (let round = 0; round < ROUNDS; round++) {
      const counts = round % 2 === 0 ? COUNTS : [...COUNTS].reverse();
      for (const model of MODELS) {
        for (const count of model === "read_only" ? [1] : counts) {
          await reset(pool, redis, env.namespace, model, count);
          const load = loadavg()[0];
          const run = await drain(model, count, env, head);
          results.push({ model, partitions: count, round, ...run, load_avg_1m: Number(load.toFixed(1)) });
          log(
            `${model} N=${count}: ${run.events_per_s} events/s (${run.seconds} s, ${run.cpu_seconds} CPU s), load ${load.toFixed(1)}`,
          );
        }
      }
    }
    await reset(pool, redis, env.namespace, "customer_orders", 1, false);
  } finally {
    await close();
  }
  const summary = {};
  for (const model of MODELS) {
    const base = mean(
      results.filter((r) => r.model === model && r.partitions === COUNTS[0]).map((r) => r.events_per_s),
    );
    summary[model] = Object.fromEntries(
      (model === "read_only" ? [1] : COUNTS).map((n) => {
        const rate = mean(results.filter((r) => r.model === model && r.partitions === n).map((r) => r.events_per_s));
        return [n, { events_per_s: Math.round(rate), ratio: Number((rate / base).toFixed(2)) }];
      }),
    );
  }
  console.log(JSON.stringify({ benchmark: "partitions-catch-up", events: EVENTS, summary, runs: results }));
}

function mean(values) {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/** Empties the read model and lays it out for `count` partitions (Redis: a fresh generation). */
async function reset(pool, redis, namespace, model, count, layOut = true) {
  if (model === "read_only") return;
  if (model === "order_summaries") {
    await pool.query(`truncate ${ORDER_SUMMARIES}`);
    await pool.query("delete from projection_checkpoints where name = $1 or starts_with(name, $1 || '.p')", [
      ORDER_SUMMARIES,
    ]);
    if (layOut) await ensurePostgresLayout(pool, ORDER_SUMMARIES, count, ORDER_SUMMARIES_VERSION);
    return;
  }
  const keys = customerOrdersKeys(namespace);
  const gen = await redis.get(keys.current);
  if (gen !== null) await dropGenerationKeys(redis, keys.generation(gen));
  await redis.del(keys.current);
  // The first partition's writer creates the generation, laid out for `count`.
  if (layOut) await new CustomerOrdersProjection(redis, { namespace, partition: { index: 0, count } }).checkpoint();
}

/** N processes, one per partition; seconds from "go" until every partition is at the head. */
async function drain(model, count, env, head) {
  const children = [];
  for (let i = 0; i < count; i++) {
    const c = fork(self, ["child", model, String(i), String(count), env.namespace, env.databaseUrl, env.redisUrl], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const ready = new Promise((resolve, reject) => {
      c.once("message", resolve);
      c.once("exit", (code) => reject(new Error(`partition ${i} exited with ${code}`)));
    });
    children.push({ c, ready });
  }
  await Promise.all(children.map((x) => x.ready));
  const started = performance.now();
  const done = children.map(
    ({ c }) =>
      new Promise((resolve) =>
        c.on("message", (m) => {
          if (m.done) resolve({ at: performance.now(), cpu: m.cpuSeconds });
        }),
      ),
  );
  for (const { c } of children) c.send({ go: true });
  const finished = await Promise.all(done);
  await Promise.all(children.map(({ c }) => new Promise((r) => (c.exitCode !== null ? r() : c.once("exit", r)))));
  const seconds = (Math.max(...finished.map((f) => f.at)) - started) / 1000;
  return {
    seconds: Number(seconds.toFixed(2)),
    events_per_s: Math.round(head / seconds),
    cpu_seconds: Number(finished.reduce((a, f) => a + f.cpu, 0).toFixed(1)),
  };
}
