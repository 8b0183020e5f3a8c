// Append benchmark of @orderly/event-store-postgres (run `pnpm bench` in this package after `pnpm build`).
// In one run, on scratch databases of the same server:
//  (a) the per-command database ceiling: pgbench running the SQL of one CreateOrder append (global position counter +
//      event row + idempotency row + notify; the unique constraints do the version and key checks) as one transaction
//      per command, at 1/4/8/16/32 clients, as one statement and as an explicit transaction; for reference also with
//      positions from a sequence (not commit-ordered);
//  (b) PostgresEventStore's in-process append rate (new stream per command, with an idempotency key) at several
//      concurrencies, with p50/p99 latency, and p99 at half of the best rate (open loop);
//  (c) the ratio (b)/(a).
// Prints one JSON object. Env: DATABASE_URL (server to use; default postgres://root@127.0.0.1:5432/postgres),
// BENCH_SECONDS (per measurement, default 5), BENCH_ONLY=store|pgbench, PGBENCH (default /usr/bin/pgbench).
import { execFile } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { testMetadata } from "@orderly/eventsourcing/testing";
import pg from "pg";
import { createPool, ensureDatabase, migrateEventStore, PostgresEventStore } from "../dist/index.js";

const run = promisify(execFile);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const only = process.env.BENCH_ONLY;
const pgbenchPath = process.env.PGBENCH ?? "/usr/bin/pgbench";
const serverUrl = new URL(process.env.DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres");
const clientCounts = [1, 4, 8, 16, 32];
const storeConcurrencies = (process.env.BENCH_CONCURRENCY ?? "16,64,256,1024").split(",").map(Number);
const log = (...args) => process.stderr.write(`${args.join(" ")}\n`);

function databaseUrl(name) {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabase(name) {
  const admin = new pg.Client({ connectionString: databaseUrl("postgres") });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

async function scratchDatabase(label) {
  const name = `orderly_bench_${label}_${randomBytes(4).toString("hex")}`;
  const url = databaseUrl(name);
  await ensureDatabase(url);
  const pool = createPool(url, { max: 4 });
  await migrateEventStore(pool);
  return { name, url, pool };
}

// ---------------------------------------------------------------------------------------------------------------
// (a) pgbench

const ORDER_DATA = `jsonb_build_object('orderId', ids.order_id, 'customerId', 'customer-42', 'currency', 'EUR',
  'items', jsonb_build_array(jsonb_build_object('sku', 'SKU-1', 'quantity', :qty::int, 'unitPriceMinor', 1250)),
  'totalMinor', :qty::int * 1250)`;

/** One statement, one round trip: the strongest form of a per-command append through the position counter. */
const COUNTER_SINGLE = `\\set qty random(1, 5)
with ids as (select gen_random_uuid() as order_id, gen_random_uuid() as event_id, gen_random_uuid() as command_id),
pos as (update global_position set last = last + 1 where id = 1 returning last),
e as (insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id, correlation_id,
        causation_id, traceparent, occurred_at)
      select pos.last, ids.event_id, 'order-' || ids.order_id, 1, 'OrderPlaced', ${ORDER_DATA}, ids.command_id,
        ids.command_id, ids.command_id, null, now() from ids, pos),
p as (insert into processed_commands (idempotency_key, request_hash, command_id, stream_id, stream_version, position)
      select 'key-' || ids.command_id, sha256(ids.command_id::text::bytea), ids.command_id, 'order-' || ids.order_id, 1,
        pos.last from ids, pos)
select pg_notify('orderly_events', pos.last::text) from pos;
`;

/** The same as an explicit transaction of separate statements (what an unbatched store sends). */
const COUNTER_MULTI = `\\set qty random(1, 5)
select gen_random_uuid() as order_id, gen_random_uuid() as event_id, gen_random_uuid() as command_id \\gset
begin;
update global_position set last = last + 1 where id = 1 returning last as pos \\gset
insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id, correlation_id,
  causation_id, traceparent, occurred_at)
  select :pos::bigint, :event_id::uuid, 'order-' || ids.order_id, 1, 'OrderPlaced', ${ORDER_DATA}, :command_id::uuid,
    :command_id::uuid, :command_id::uuid, null, now() from (select :order_id::uuid as order_id) ids;
insert into processed_commands (idempotency_key, request_hash, command_id, stream_id, stream_version, position)
  values ('key-' || :command_id::text, sha256(:command_id::bytea), :command_id::uuid,
    'order-' || :order_id::text, 1, :pos::bigint);
select pg_notify('orderly_events', :pos::text);
commit;
`;

/** For reference only: positions from a sequence (not commit-ordered, so not what Orderly may do). */
const SEQUENCE_SINGLE = COUNTER_SINGLE.replace(
  "pos as (update global_position set last = last + 1 where id = 1 returning last)",
  "pos as (select nextval('bench_position') as last)",
);

async function pgbench(url, script, clients) {
  const u = new URL(url);
  const { stdout } = await run(
    pgbenchPath,
    [
      "-n",
      "-M",
      "prepared",
      "-f",
      script,
      "-c",
      String(clients),
      "-j",
      String(Math.min(clients, 2)),
      "-T",
      String(seconds),
      "-h",
      u.hostname,
      "-p",
      u.port || "5432",
      "-U",
      decodeURIComponent(u.username || "root"),
      u.pathname.slice(1),
    ],
    { maxBuffer: 10 * 1024 * 1024 },
  );
  const tps = /tps = ([\d.]+)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  if (!tps) throw new Error(`cannot parse pgbench output:\n${stdout}`);
  return { tps: Math.round(Number(tps[1])), failed: failed ? Number(failed[1]) : 0 };
}

async function benchPgbench() {
  const db = await scratchDatabase("pgbench");
  const dir = await mkdtemp(join(tmpdir(), "orderly-pgbench-"));
  try {
    await db.pool.query("create sequence bench_position start 1000000000");
    const variants = {
      counter_single_statement: COUNTER_SINGLE,
      counter_transaction: COUNTER_MULTI,
      sequence_unordered: SEQUENCE_SINGLE,
    };
    const result = {};
    for (const [name, sql] of Object.entries(variants)) {
      const file = join(dir, `${name}.sql`);
      await writeFile(file, sql);
      result[name] = {};
      for (const clients of clientCounts) {
        const r = await pgbench(db.url, file, clients);
        if (r.failed > 0) throw new Error(`pgbench ${name} c=${clients}: ${r.failed} failed transactions`);
        result[name][clients] = r.tps;
        log(`pgbench ${name} clients=${clients}: ${r.tps} tps`);
      }
    }
    const best = (name) => {
      const entries = Object.entries(result[name]).sort((a, b) => b[1] - a[1]);
      return { tps: entries[0][1], clients: Number(entries[0][0]) };
    };
    const counterBest = [best("counter_single_statement"), best("counter_transaction")].sort(
      (a, b) => b.tps - a.tps,
    )[0];
    return {
      tps_by_clients: result,
      ceiling_tps: counterBest.tps,
      ceiling_clients: counterBest.clients,
      ceiling_variant:
        counterBest.tps === best("counter_single_statement").tps ? "counter_single_statement" : "counter_transaction",
      unordered_best_tps: best("sequence_unordered").tps,
    };
  } finally {
    await db.pool.end();
    await rm(dir, { recursive: true, force: true });
    await dropDatabase(db.name);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (b) the store in-process

function createOrderRequest() {
  const orderId = randomUUID();
  const commandId = randomUUID();
  const quantity = 1 + Math.floor(Math.random() * 5);
  const data = {
    orderId,
    customerId: "customer-42",
    currency: "EUR",
    items: [{ sku: "SKU-1", quantity, unitPriceMinor: 1250 }],
    totalMinor: quantity * 1250,
  };
  const key = `key-${commandId}`;
  return {
    streamId: `order-${orderId}`,
    expectedVersion: "no_stream",
    events: [
      {
        event: { type: "OrderPlaced", data },
        metadata: testMetadata(commandId, { eventId: randomUUID() }),
      },
    ],
    idempotency: {
      key,
      requestHash: createHash("sha256").update("CreateOrder").update(JSON.stringify(data)).digest("hex"),
    },
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summarise(latencies, elapsedMs, count) {
  latencies.sort((a, b) => a - b);
  return {
    appends_per_second: Math.round((count / elapsedMs) * 1000),
    p50_ms: Number(percentile(latencies, 50).toFixed(2)),
    p99_ms: Number(percentile(latencies, 99).toFixed(2)),
  };
}

/**
 * CPU time (µs, user + system) used so far by the Postgres backends serving `database`, read from /proc: only when
 * the server runs on this machine (null otherwise). Unlike wall-clock rates it hardly depends on how busy the machine is.
 */
async function backendCpuMicros(pool, database) {
  try {
    const { rows } = await pool.query(
      "select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
      [database],
    );
    let total = 0;
    for (const { pid } of rows) {
      const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
      total += (Number(fields[11]) + Number(fields[12])) * (1_000_000 / 100); // clock ticks at USER_HZ = 100
    }
    return total;
  } catch {
    return null;
  }
}

async function closedLoop(store, concurrency, durationMs, probe) {
  const latencies = [];
  let count = 0;
  const dbBefore = probe ? await backendCpuMicros(probe.pool, probe.database) : null;
  const nodeBefore = process.cpuUsage();
  const start = performance.now();
  const end = start + durationMs;
  const before = store.stats;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const request = createOrderRequest();
        const t0 = performance.now();
        await store.append(request);
        latencies.push(performance.now() - t0);
        count++;
      }
    }),
  );
  const elapsed = performance.now() - start;
  const after = store.stats;
  const node = process.cpuUsage(nodeBefore);
  const dbAfter = probe ? await backendCpuMicros(probe.pool, probe.database) : null;
  return {
    ...summarise(latencies, elapsed, count),
    mean_batch: Number(((after.commands - before.commands) / Math.max(1, after.batches - before.batches)).toFixed(1)),
    node_cpu_us_per_append: Math.round((node.user + node.system) / Math.max(1, count)),
    db_cpu_us_per_append:
      dbBefore === null || dbAfter === null ? null : Math.round((dbAfter - dbBefore) / Math.max(1, count)),
  };
}

/** Open loop: arrivals at a fixed rate, latency measured from the scheduled arrival (no coordinated omission). */
async function openLoop(store, rate, durationMs) {
  const latencies = [];
  const pending = [];
  const start = performance.now();
  const before = store.stats;
  let issued = 0;
  while (performance.now() - start < durationMs) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    for (; issued < due; issued++) {
      const scheduled = start + (issued / rate) * 1000;
      pending.push(store.append(createOrderRequest()).then(() => latencies.push(performance.now() - scheduled)));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  const after = store.stats;
  return {
    target_rate: Math.round(rate),
    ...summarise(latencies, performance.now() - start, issued),
    mean_batch: Number(((after.commands - before.commands) / Math.max(1, after.batches - before.batches)).toFixed(1)),
  };
}

async function benchStore() {
  const db = await scratchDatabase("store");
  try {
    const store = new PostgresEventStore(db.pool);
    await closedLoop(store, 64, 1000); // warm-up: JIT, prepared statements, connections
    const byConcurrency = {};
    // A separate connection reads the backends' CPU, so it is not counted itself.
    const probe = { pool: createPool(db.url, { max: 1 }), database: db.name };
    for (const concurrency of storeConcurrencies) {
      byConcurrency[concurrency] = await closedLoop(store, concurrency, seconds * 1000, probe);
      log(`store concurrency=${concurrency}: ${JSON.stringify(byConcurrency[concurrency])}`);
    }
    await probe.pool.end();
    const [bestConcurrency, best] = Object.entries(byConcurrency).sort(
      (a, b) => b[1].appends_per_second - a[1].appends_per_second,
    )[0];
    const half = await openLoop(store, best.appends_per_second / 2, seconds * 1000);
    log(`store at half the best rate: ${JSON.stringify(half)}`);
    const check = await db.pool.query("select count(*)::int as n, max(position) as head from events");
    if (check.rows[0].n !== check.rows[0].head) throw new Error("positions are not gapless");
    return {
      by_concurrency: byConcurrency,
      at_64: byConcurrency[64],
      best: { concurrency: Number(bestConcurrency), ...best },
      at_half_best_rate: half,
    };
  } finally {
    await db.pool.end();
    await dropDatabase(db.name);
  }
}

// ---------------------------------------------------------------------------------------------------------------

const result = {
  benchmark: "event-store-postgres append",
  machine: { cpus: cpus().length, node: process.version },
  seconds_per_measurement: seconds,
};
if (only !== "store") result.pgbench = await benchPgbench();
if (only !== "pgbench") result.store = await benchStore();
if (result.pgbench && result.store) {
  const ceiling = result.pgbench.ceiling_tps;
  result.ratio = {
    store_64_vs_pgbench: Number((result.store.at_64?.appends_per_second / ceiling).toFixed(2)),
    store_best_vs_pgbench: Number((result.store.best.appends_per_second / ceiling).toFixed(2)),
    store_64_vs_unordered_pgbench: Number(
      (result.store.at_64?.appends_per_second / result.pgbench.unordered_best_tps).toFixed(2),
    ),
    store_best_vs_unordered_pgbench: Number(
      (result.store.best.appends_per_second / result.pgbench.unordered_best_tps).toFixed(2),
    ),
    goal: 1.5,
  };
  result.notes = {
    ceiling:
      "pgbench.ceiling_tps = best tps over client counts of the per-command CreateOrder append through the position counter (one statement or an explicit transaction)",
    unordered:
      "pgbench.unordered_best_tps = the same SQL with positions from a sequence: not commit-ordered, so not an option for Orderly; shown as the plain per-command database ceiling",
  };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
