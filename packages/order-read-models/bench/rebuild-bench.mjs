// Rebuild throughput on a large log, with its ceilings measured in the same run. Run after `pnpm build`:
// `node bench/rebuild-bench.mjs` (part of `pnpm --filter @orderly/order-read-models bench`).
// env: BENCH_REBUILD_EVENTS=1000000, BENCH_CEILING_EVENTS=300000 (events read / rows written per ceiling),
//      BENCH_REBUILD_BEFORE=1 (also time the batch-by-batch replay the rebuild used before; 0 skips it),
//      BENCH_BEFORE_EVENTS=200000 (how many events of the log that earlier replay runs over: it is slow).
//
// 1. A fresh database gets BENCH_REBUILD_EVENTS order events, generated inside Postgres (bench/generate-event-log.mjs).
// 2. Ceilings: a keyset read of the events in pages of 5000 parsed by `pg` (as `readAll` reads), the same with type
//    parsing off; `unnest()` upserts of 1000 summaries with a checkpoint compare-and-set per statement; Redis writes of
//    1000 × (HSET 12 fields + ZADD) + checkpoint per MULTI through ioredis, the same as raw RESP on a socket, and the
//    ioredis pipeline without MULTI that the rebuild uses.
// 3. The rebuilds, as the CLI runs them (`rebuildOrderSummaries`, `rebuildCustomerOrders`: bulk fold, verification
//    against a fresh fold, swap); then, unless BENCH_REBUILD_BEFORE=0, the earlier replay (readAll + the projection's
//    apply per batch of 5000, next page prefetched) over the first BENCH_BEFORE_EVENTS events, into a shadow.
// Prints one JSON object on its last line. Rates are per second of wall time on a shared machine: compare ratios.
import { connect as netConnect } from "node:net";
import { PostgresEventLog } from "@orderly/event-store-postgres";
import {
  CustomerOrdersRebuild,
  customerOrdersKeys,
  evolveSummary,
  listMember,
  OrderSummariesProjection,
  OrderSummariesRebuild,
  rebuildCustomerOrders,
  rebuildOrderSummaries,
} from "@orderly/order-read-models";
import { ORDER_HASH_FIELDS, orderHashValues } from "@orderly/order-read-models/testing";
import { generateEventLog } from "./generate-event-log.mjs";
import { benchLog, openBenchStores } from "./harness.mjs";

const EVENTS = Number(process.env.BENCH_REBUILD_EVENTS ?? 1_000_000);
const CEILING = Number(process.env.BENCH_CEILING_EVENTS ?? 300_000);
const BEFORE = (process.env.BENCH_REBUILD_BEFORE ?? "1") !== "0";
const BEFORE_EVENTS = Number(process.env.BENCH_BEFORE_EVENTS ?? 200_000);

// The hash fields of `customer_orders` (customer-orders.ts).

const { env, pool, redis, close } = await openBenchStores(8);
const log = benchLog("rebuild-bench");
const seconds = (started) => (performance.now() - started) / 1000;
const round = (n) => Math.round(n);
const ratio = (a, b) => Number((a / b).toFixed(3));

/** What both read models' rebuilds report alike, over a log of `head` events. */
const rebuildFigures = (result, head) => ({
  replay_events_per_s: round(result.replayEventsPerSecond),
  replay_seconds: Number(result.replaySeconds.toFixed(2)),
  verify_seconds: Number(result.verifySeconds.toFixed(2)),
  total_seconds: Number(result.totalSeconds.toFixed(2)),
  events_per_s_with_verify_and_swap: round(head / result.totalSeconds),
  verified: result.verification?.checksum === result.verification?.expectedChecksum,
});

/**
 * A rebuild's replay rate against the replay before the bulk fold (when that was timed) and against its goals: `goal`
 * events/s, and `share` of the ceiling `name` (measured at `ceiling`).
 */
const goalFigures = (rate, beforeRate, goal, [name, ceiling, share]) => ({
  ...(beforeRate !== undefined ? { ratio_to_before: ratio(rate, beforeRate) } : {}),
  goal_events_per_s: goal,
  goal_met: rate >= goal,
  [`goal_ratio_to_${name}`]: share,
  goal_ratio_met: rate / ceiling >= share,
});

try {
  log(`generating ${EVENTS} events in Postgres`);
  let started = performance.now();
  const head = await generateEventLog(pool, EVENTS);
  const generateSeconds = seconds(started);
  const orders = Number((await pool.query("select count(distinct stream_id) as n from events")).rows[0].n);
  log(`${head} events, ${orders} orders in ${generateSeconds.toFixed(1)} s`);
  const ceilingEvents = Math.min(CEILING, head);

  // Ceiling: keyset reads.
  const keysetRead = async (types) => {
    const t = performance.now();
    for (let at = 0; at < ceilingEvents; ) {
      const result = await pool.query({
        text: "select * from events where position > $1 order by position limit $2",
        values: [at, Math.min(5000, ceilingEvents - at)],
        rowMode: "array",
        ...(types ? { types } : {}),
      });
      at = Number(result.rows[result.rows.length - 1][0]);
    }
    return ceilingEvents / seconds(t);
  };
  log("ceiling: keyset reads");
  const readParsed = await keysetRead(undefined);
  const readRaw = await keysetRead({ getTypeParser: () => (value) => value });

  // The summaries the ceilings write: a fold of the first events.
  const eventLog = new PostgresEventLog(pool);
  const folded = new Map();
  for (let at = 0; at < ceilingEvents; ) {
    const page = await eventLog.readForFold(at, Math.min(20_000, ceilingEvents - at));
    for (const e of page) {
      const id = e.streamId.slice(6);
      folded.set(id, evolveSummary(folded.get(id), e));
    }
    at = page[page.length - 1].position;
  }
  const rows = [...folded.values()];
  const batches = [];
  for (let i = 0; i < rows.length; i += 1000) batches.push(rows.slice(i, i + 1000));

  log(`ceiling: unnest upserts of ${rows.length} rows`);
  await pool.query("create table bench_upsert (like order_summaries including all)");
  await pool.query("insert into projection_checkpoints (name, position) values ('bench_upsert', 0)");
  const columns =
    "order_id, customer_id, status, payment_status, currency, total_minor, paid_minor, item_count, version, created_at, updated_at, last_position, placed_position";
  // The summary's fields in the order of `columns`: one array each ($1..$13).
  const upsertFields = [
    "orderId",
    "customerId",
    "status",
    "paymentStatus",
    "currency",
    "totalMinor",
    "paidMinor",
    "itemCount",
    "version",
    "createdAt",
    "updatedAt",
    "lastPosition",
    "placedPosition",
  ];
  started = performance.now();
  for (let b = 0; b < batches.length; b++) {
    const batch = batches[b];
    await pool.query({
      name: "bench_upsert",
      text: `with cp as (update projection_checkpoints set position = $15 where name = 'bench_upsert' and position = $14
          returning position)
        insert into bench_upsert (${columns})
        select u.* from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[],
          $8::int4[], $9::int8[], $10::timestamptz[], $11::timestamptz[], $12::int8[], $13::int8[]) as u, cp
        on conflict (order_id) do update set status = excluded.status, payment_status = excluded.payment_status,
          paid_minor = excluded.paid_minor, version = excluded.version, updated_at = excluded.updated_at,
          last_position = excluded.last_position`,
      values: [...upsertFields.map((field) => batch.map((r) => r[field])), b, b + 1],
    });
  }
  const upsertRows = rows.length / seconds(started);
  await pool.query("drop table bench_upsert");

  log(`ceiling: Redis writes of ${rows.length} summaries`);
  const g = `${customerOrdersKeys(env.namespace).prefix}:gbench`;
  const hashArgs = (s) => {
    const values = orderHashValues(s);
    return ORDER_HASH_FIELDS.flatMap((f, i) => [f, values[i]]);
  };
  // The bench generation by the names it writes (never a SCAN of the shared Redis, which holds other tenants' keys).
  const benchKeys = [
    `${g}:checkpoint`,
    ...new Set(rows.flatMap((s) => [`${g}:o:${s.orderId}`, `${g}:c:${s.customerId}`])),
  ];
  const dropBench = async () => {
    for (let i = 0; i < benchKeys.length; i += 5000) await redis.unlink(...benchKeys.slice(i, i + 5000));
  };
  // Orders per second with each batch's hashes, list members and checkpoint queued on `open()` (a MULTI or a pipeline).
  const ioredisWrites = async (open) => {
    const t = performance.now();
    for (let b = 0; b < batches.length; b++) {
      const queue = open();
      for (const s of batches[b]) {
        queue.hset(`${g}:o:${s.orderId}`, ...hashArgs(s));
        queue.zadd(`${g}:c:${s.customerId}`, 0, listMember(s));
      }
      queue.set(`${g}:checkpoint`, String(b + 1));
      await queue.exec();
    }
    const rate = rows.length / seconds(t);
    await dropBench();
    return rate;
  };
  const ioredisMulti = await ioredisWrites(() => redis.multi());
  const ioredisPipeline = await ioredisWrites(() => redis.pipeline());

  // Raw RESP: the same MULTI per batch written as bytes on a socket; replies counted by their line ends (every reply
  // here is one line: +OK, +QUEUED, or the EXEC array's header and its integer/status lines).
  const url = new URL(env.redisUrl);
  const socket = netConnect({ host: url.hostname || "127.0.0.1", port: Number(url.port || 6379) });
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.setNoDelay(true);
  let pendingLines = 0;
  let wake;
  socket.on("data", (chunk) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) pendingLines--;
    if (pendingLines <= 0 && wake) wake();
  });
  const resp = (args) => {
    let out = `*${args.length}\r\n`;
    for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    return out;
  };
  if (url.password) {
    pendingLines += 1;
    socket.write(resp(url.username ? ["AUTH", url.username, url.password] : ["AUTH", url.password]));
  }
  const db = url.pathname.slice(1);
  if (db) {
    pendingLines += 1;
    socket.write(resp(["SELECT", db]));
  }
  started = performance.now();
  for (let b = 0; b < batches.length; b++) {
    let out = resp(["MULTI"]);
    for (const s of batches[b]) {
      out += resp(["HSET", `${g}:o:${s.orderId}`, ...hashArgs(s)]);
      out += resp(["ZADD", `${g}:c:${s.customerId}`, "0", listMember(s)]);
    }
    out += resp(["SET", `${g}:checkpoint`, String(b + 1)]);
    out += resp(["EXEC"]);
    const commands = 2 * batches[b].length + 1;
    pendingLines += 1 + commands + 1 + commands; // +OK, +QUEUED each, *n, each reply
    const done = new Promise((resolve) => {
      wake = resolve;
    });
    socket.write(out);
    if (pendingLines > 0) await done;
  }
  const rawResp = rows.length / seconds(started);
  socket.destroy();
  await dropBench();

  // The rebuilds, as the CLI runs them.
  await new OrderSummariesProjection(pool).checkpoint();
  const keys = customerOrdersKeys(env.namespace);
  await redis.set(keys.current, "0");
  await redis.set(`${keys.generation("0")}:checkpoint`, "0");
  log("rebuild order_summaries");
  const pg = await rebuildOrderSummaries(pool);
  log(`  ${round(pg.replayEventsPerSecond)} events/s replay, ${pg.totalSeconds.toFixed(1)} s in all`);
  log("rebuild customer_orders");
  const rd = await rebuildCustomerOrders(redis, env.namespace, pool);
  log(`  ${round(rd.replayEventsPerSecond)} events/s replay, ${rd.totalSeconds.toFixed(1)} s in all`);

  // The replay as it was (rebuildProjection's loop before the bulk fold): readAll pages of 5000, the next one
  // prefetched, the projection's apply per page into the shadow.
  const batchReplay = async (target, events) => {
    await target.dropShadow();
    await target.createShadow();
    const t = performance.now();
    let at = 0;
    let next = eventLog.readAll(0, Math.min(5000, events));
    while (at < events) {
      const page = await next;
      const last = page[page.length - 1].position;
      if (last < events) next = eventLog.readAll(last, Math.min(5000, events - last));
      await target.applyToShadow(page, at);
      at = last;
    }
    const rate = events / seconds(t);
    await target.dropShadow();
    return rate;
  };
  let before;
  if (BEFORE) {
    const events = Math.min(BEFORE_EVENTS, head);
    log(`before: batch replay of ${events} events into order_summaries`);
    const pgBefore = await batchReplay(new OrderSummariesRebuild(pool, eventLog), events);
    log(`before: batch replay of ${events} events into customer_orders`);
    const rdBefore = await batchReplay(new CustomerOrdersRebuild(redis, env.namespace, eventLog), events);
    before = {
      events,
      postgres_events_per_s: round(pgBefore),
      redis_events_per_s: round(rdBefore),
    };
  }

  const pgRate = pg.replayEventsPerSecond;
  const rdRate = rd.replayEventsPerSecond;
  console.log(
    JSON.stringify({
      benchmark: "rebuild",
      events: head,
      orders,
      generate_seconds: Number(generateSeconds.toFixed(1)),
      ceilings: {
        events_measured: ceilingEvents,
        rows_written: rows.length,
        keyset_read_parsed_rows_per_s: round(readParsed),
        keyset_read_raw_rows_per_s: round(readRaw),
        unnest_upsert_rows_per_s: round(upsertRows),
        ioredis_multi_orders_per_s: round(ioredisMulti),
        ioredis_pipeline_orders_per_s: round(ioredisPipeline),
        raw_resp_multi_orders_per_s: round(rawResp),
      },
      postgres: {
        ...rebuildFigures(pg, head),
        ratio_to_keyset_read_parsed: ratio(pgRate, readParsed),
        ratio_to_keyset_read_raw: ratio(pgRate, readRaw),
        ratio_to_unnest_upsert_rows: ratio(pgRate, upsertRows),
        // The goal as a share of the read ceiling it was set against (50k of 120-130k parsed rows/s).
        ...goalFigures(pgRate, before?.postgres_events_per_s, 50_000, ["keyset_read_parsed", readParsed, 0.4]),
      },
      redis: {
        ...rebuildFigures(rd, head),
        ratio_to_ioredis_multi: ratio(rdRate, ioredisMulti),
        ratio_to_raw_resp: ratio(rdRate, rawResp),
        // The goal as a share of the ioredis MULTI ceiling it was set against (40k of 49-56k writes/s).
        ...goalFigures(rdRate, before?.redis_events_per_s, 40_000, ["ioredis_multi", ioredisMulti, 0.75]),
      },
      ...(before ? { before } : {}),
    }),
  );
} finally {
  await close();
}
