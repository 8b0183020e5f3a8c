// The write path's ordering point alone (issue 17, docs/scaling.md "Where the counter tops out"): appends straight
// into PostgresEventStore — group commit on, the store's own code, no gRPC — from N writer processes (as N
// command-service instances), each with many appends in flight, so that Node's per-command cost is small and the
// counter's row lock can become the limit. One run, in a database of its own on DATABASE_URL's server:
//   - baseline: 1 writer, group commit off (maxBatchSize 1: one command per transaction through the counter);
//   - 1, 2, 4 writers with group commit on (maxBatchSize 256).
// Per phase: commands/s, mean batch size and transaction time (from the store's onBatch), the writers' CPU, and the
// share of 10 ms samples of pg_stat_activity in which a backend of this database waited on a lock (the counter row:
// with 2+ writers, a batch waits while another holds it) — near 100 % means the counter's lock is the limit.
//
//   pnpm build && node scripts/bench-counter-ceiling.mjs [--seconds 8] [--writers 1,2,4] [--in-flight 512]
import { execFileSync, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = new URL("..", import.meta.url);
const load = (path) => import(new URL(path, root).href);
const { values } = parseArgs({
  options: {
    child: { type: "boolean", default: false },
    database: { type: "string" },
    seconds: { type: "string", default: "8" },
    writers: { type: "string", default: "1,2,4" },
    "in-flight": { type: "string", default: "512" },
    batch: { type: "string", default: "256" },
  },
});
const seconds = Number(values.seconds);
const inFlight = Number(values["in-flight"]);

if (values.child) {
  // One writer: a store of its own (its own pool and group-commit writer), `inFlight` append loops.
  const { createPool, PostgresEventStore } = await load("packages/event-store-postgres/dist/index.js");
  const { testAppendRequest } = await load("packages/eventsourcing/dist/testing/index.js");
  const pool = createPool(values.database, { max: 4 });
  let batches = 0;
  let batchCommands = 0;
  let batchSeconds = 0;
  let counting = false;
  const store = new PostgresEventStore(pool, {
    maxBatchSize: Number(values.batch),
    onBatch: (n, s) => {
      if (!counting) return;
      batches++;
      batchCommands += n;
      batchSeconds += s;
    },
  });
  let commands = 0;
  let errors = 0;
  const warmUntil = Date.now() + 1000;
  const stopAt = warmUntil + seconds * 1000;
  let cpuStart;
  const loop = async () => {
    while (Date.now() < stopAt) {
      const key = randomUUID();
      try {
        await store.append(testAppendRequest(`order-${randomUUID()}`, { key }));
        if (counting) commands++;
      } catch {
        errors++;
      }
      if (!counting && Date.now() >= warmUntil) {
        counting = true;
        cpuStart = process.cpuUsage();
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const cpu = process.cpuUsage(cpuStart);
  await store.close();
  await pool.end();
  process.stdout.write(
    `${JSON.stringify({ commands, errors, batches, batchCommands, batchSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`,
  );
  process.exit(0);
}

const admin = process.env.ORDERLY_TEST_ADMIN_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres";
const database = `orderly_counter_${randomBytes(4).toString("hex")}`;
const databaseUrl = new URL(admin);
databaseUrl.pathname = `/${database}`;
const psql = (sql, url = admin) => execFileSync("psql", [url, "-Atc", sql], { encoding: "utf8" }).trim();
psql(`create database ${database}`);

const phases = [
  { name: "baseline: 1 writer, group commit off", writers: 1, batch: 1 },
  ...values.writers
    .split(",")
    .map((n) => ({ name: `${n} writer(s), group commit on`, writers: Number(n), batch: 256 })),
];
const results = [];
try {
  const { createPool, migrateEventStore } = await load("packages/event-store-postgres/dist/index.js");
  const pool = createPool(databaseUrl.toString(), { max: 2 });
  await migrateEventStore(pool);
  for (const phase of phases) {
    const children = Array.from({ length: phase.writers }, () =>
      spawn(
        process.execPath,
        [
          fileURLToPath(import.meta.url),
          "--child",
          "--database",
          databaseUrl.toString(),
          "--seconds",
          String(seconds),
          "--in-flight",
          String(inFlight),
          "--batch",
          String(phase.batch),
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      ),
    );
    const outputs = children.map(
      (child) =>
        new Promise((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (d) => {
            out += d;
          });
          child.on("exit", (code) =>
            code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited ${code}`)),
          );
        }),
    );
    // Sample the database's backends while the writers count (after their 1 s warm-up).
    await sleep(1200);
    let samples = 0;
    let lockWaits = 0;
    const sampleUntil = Date.now() + (seconds - 0.5) * 1000;
    while (Date.now() < sampleUntil) {
      const { rows } = await pool.query(
        `select count(*) filter (where wait_event_type = 'Lock')::int as waiting
           from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
        [database],
      );
      samples++;
      if (rows[0].waiting > 0) lockWaits++;
      await sleep(10);
    }
    const writers = await Promise.all(outputs);
    const commands = writers.reduce((s, w) => s + w.commands, 0);
    const batches = writers.reduce((s, w) => s + w.batches, 0);
    const batchCommands = writers.reduce((s, w) => s + w.batchCommands, 0);
    const batchSeconds = writers.reduce((s, w) => s + w.batchSeconds, 0);
    const result = {
      phase: phase.name,
      commandsPerSecond: Math.round(commands / seconds),
      meanBatch: Number((batchCommands / Math.max(1, batches)).toFixed(1)),
      meanTransactionMs: Number(((batchSeconds / Math.max(1, batches)) * 1000).toFixed(2)),
      writersCpuCores: Number((writers.reduce((s, w) => s + w.cpuSeconds, 0) / seconds).toFixed(2)),
      lockWaitShare: Number((lockWaits / Math.max(1, samples)).toFixed(2)),
      errors: writers.reduce((s, w) => s + w.errors, 0),
    };
    results.push(result);
    console.error(JSON.stringify(result));
  }
  await pool.end();
} finally {
  psql(`drop database if exists ${database} with (force)`);
}
const baseline = results[0].commandsPerSecond;
console.log(
  JSON.stringify(
    {
      at: new Date().toISOString(),
      loadavg: loadavg().map((l) => Number(l.toFixed(1))),
      seconds,
      inFlightPerWriter: inFlight,
      phases: results.map((r) => ({ ...r, vsBaseline: Number((r.commandsPerSecond / baseline).toFixed(2)) })),
    },
    null,
    2,
  ),
);
