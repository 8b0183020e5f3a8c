// Reading a whole customer_orders generation (what `pnpm orderly verify` and the rebuild's verification do) through
// its index, against the SCAN-based read it replaced, on an empty Redis and on one full of other tenants' keys. After
// `pnpm build`:
//   node packages/order-read-models/bench/walk-bench.mjs     (env: BENCH_EVENTS=200000, BENCH_FOREIGN=300000)
// Runs on a redis-server of its own (the shared one must never be SCANned): fills a generation through the live apply
// path with BENCH_EVENTS events, then times (median of 3) the index walk (`readGenerationContents`) and the former
// read (one SCAN pass over `<g>:*`, COUNT 20000, then pipelined HGETALL / ZRANGE), first alone, then after adding
// BENCH_FOREIGN foreign keys. Also Redis's own time per read (INFO commandstats usec; less noisy on a busy machine than
// the wall clock). Prints one JSON object; `*_foreign_over_alone` is the growth with the foreign keys.
import { hashToSummary, readGenerationContents } from "@orderly/order-read-models";
import { startRedisServer } from "@orderly/testing";
import { Redis } from "ioredis";
import { benchLog, fillGeneration } from "./harness.mjs";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const FOREIGN = Number(process.env.BENCH_FOREIGN ?? 300_000);
const log = benchLog("walk-bench");

/** The read the walk replaced (snapshots.ts before issue 13b): one SCAN pass over the whole keyspace. */
async function readByScan(redis, g) {
  const orderKeys = [];
  const listKeys = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${g}:*`, "COUNT", 20_000);
    cursor = next;
    for (const key of keys) {
      if (key.startsWith(`${g}:o:`)) orderKeys.push(key);
      else if (key.startsWith(`${g}:c:`)) listKeys.push(key);
    }
  } while (cursor !== "0");
  const summaries = new Map();
  for (let i = 0; i < orderKeys.length; i += 1000) {
    const chunk = orderKeys.slice(i, i + 1000);
    const pipeline = redis.pipeline();
    for (const key of chunk) pipeline.hgetall(key);
    const results = await pipeline.exec();
    chunk.forEach((key, j) => {
      const orderId = key.slice(`${g}:o:`.length);
      const summary = hashToSummary(orderId, results[j][1]);
      if (summary) summaries.set(orderId, summary);
    });
  }
  let listed = 0;
  for (let i = 0; i < listKeys.length; i += 1000) {
    const chunk = listKeys.slice(i, i + 1000);
    const pipeline = redis.pipeline();
    for (const key of chunk) pipeline.zrange(key, "0", "-1");
    for (const [, members] of await pipeline.exec()) listed += members.length;
  }
  return { summaries, listed };
}

async function median3(fn) {
  const times = [];
  let result;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    result = await fn();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { ms: Math.round(times[1]), result };
}

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const { events, g } = await fillGeneration(redis, "walk-bench", EVENTS, log);

  /** Redis's own time for one run of `fn` (sum of usec over INFO commandstats): less noisy than the wall clock. */
  const redisMicros = async (fn) => {
    await redis.config("RESETSTAT");
    await fn();
    let usec = 0;
    let scanned = 0;
    let cursorCalls = 0;
    for (const line of (await redis.info("commandstats")).split("\n")) {
      const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
      if (!m || m[1] === "info" || m[1] === "config") continue;
      usec += Number(m[3]);
      if (m[1] === "scan") scanned += Number(m[3]);
      if (m[1] === "scan" || m[1] === "sscan") cursorCalls += Number(m[2]);
    }
    return { usec, scanned, cursorCalls };
  };
  const measure = async () => {
    const walk = await median3(() => readGenerationContents(redis, g));
    const scan = await median3(() => readByScan(redis, g));
    if (walk.result.summaries.size !== scan.result.summaries.size) throw new Error("the two reads disagree");
    const walkRedis = await redisMicros(() => readGenerationContents(redis, g));
    const scanRedis = await redisMicros(() => readByScan(redis, g));
    return {
      walk: walk.ms,
      scan: scan.ms,
      orders: walk.result.summaries.size,
      walkRedisMs: Math.round(walkRedis.usec / 1000),
      scanRedisMs: Math.round(scanRedis.usec / 1000),
      scanCommandMs: Math.round(scanRedis.scanned / 1000),
      walkCursorCalls: walkRedis.cursorCalls,
      scanCursorCalls: scanRedis.cursorCalls,
    };
  };
  const alone = await measure();
  log(`adding ${FOREIGN} foreign keys`);
  for (let i = 0; i < FOREIGN; i += 10_000) {
    const pipeline = redis.pipeline();
    for (let j = i; j < Math.min(FOREIGN, i + 10_000); j += 1000) {
      const pairs = [];
      for (let n = j; n < Math.min(FOREIGN, j + 1000); n++) pairs.push(`other-tenant:${n % 11}:k:${n}`, "x");
      pipeline.mset(...pairs);
    }
    await pipeline.exec();
  }
  const crowded = await measure();
  const ratio = (a, b) => Math.round((a / b) * 100) / 100;
  console.log(
    JSON.stringify({
      benchmark: "customer_orders whole-generation read: index walk vs SCAN",
      at: new Date().toISOString(),
      events: events.length,
      orders: alone.orders,
      foreign_keys: FOREIGN,
      walk_ms_alone: alone.walk,
      walk_ms_foreign: crowded.walk,
      scan_ms_alone: alone.scan,
      scan_ms_foreign: crowded.scan,
      walk_sscan_calls_alone: alone.walkCursorCalls,
      walk_sscan_calls_foreign: crowded.walkCursorCalls,
      scan_calls_alone: alone.scanCursorCalls,
      scan_calls_foreign: crowded.scanCursorCalls,
      walk_redis_ms_alone: alone.walkRedisMs,
      walk_redis_ms_foreign: crowded.walkRedisMs,
      scan_redis_ms_alone: alone.scanRedisMs,
      scan_redis_ms_foreign: crowded.scanRedisMs,
      scan_command_redis_ms_alone: alone.scanCommandMs,
      scan_command_redis_ms_foreign: crowded.scanCommandMs,
      walk_redis_foreign_over_alone: ratio(crowded.walkRedisMs, alone.walkRedisMs),
      scan_redis_foreign_over_alone: ratio(crowded.scanRedisMs, alone.scanRedisMs),
      walk_foreign_over_alone: ratio(crowded.walk, alone.walk),
      scan_foreign_over_alone: ratio(crowded.scan, alone.scan),
      walk_over_scan_foreign: ratio(crowded.walk, crowded.scan),
    }),
  );
} finally {
  redis.disconnect();
  await server.close();
}
