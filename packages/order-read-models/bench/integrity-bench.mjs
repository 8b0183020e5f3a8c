// Cost of customer_orders' partial-loss detection against the work it guards, in the same run. After `pnpm build`:
//   node packages/order-read-models/bench/integrity-bench.mjs      (env: BENCH_EVENTS=200000, BENCH_PASS_MS=60000,
//                                                                     BENCH_INTERVAL_MS=5000)
// 1. Fills a generation through the live apply path (CustomerOrdersProjection.apply, batches of 2,000) with
//    BENCH_EVENTS events (~4 per order, ~5 orders per customer), built in memory (no event store needed).
// 2. Baseline: the live apply of a batch of 100 new events (as the projector applies a JetStream batch), median of
//    200 batches.
// 3. One check run as the projector runs it every BENCH_INTERVAL_MS: the O(1) script plus this run's share of the
//    rolling audit (customers × interval / pass); a whole pass of runs is timed, mean and max per run. Also the O(1)
//    part alone and a whole audit at once (what runs at start and in `pnpm orderly verify`).
// Prints one JSON object: times in ms, `check_run_per_apply_batch` = mean check run / median apply batch, and
// `check_share_of_apply_capacity` = mean check run / interval (the fraction of Redis time taken from a projector that
// applies back to back).
import { randomUUID } from "node:crypto";
import { RollingAudit } from "@orderly/order-read-models";
import {
  auditGeneration,
  checkGenerationCounts,
  generateOrderHistories,
  recordHistories,
} from "@orderly/order-read-models/testing";
import { benchLog, fillGeneration, openBenchRedis } from "./harness.mjs";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const PASS_MS = Number(process.env.BENCH_PASS_MS ?? 60_000);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 5_000);
const log = benchLog("integrity-bench");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (ms) => Math.round(ms * 1000) / 1000;

const { env, redis, close } = await openBenchRedis();
try {
  const { projection, events: fill, g } = await fillGeneration(redis, env.namespace, EVENTS, log, { cacheSize: 0 });

  // Baseline: live batches of 100 new events (new orders and their later events, as a live stream brings them).
  const live = recordHistories(generateOrderHistories(20_000, 43), fill.length);
  const applyMs = [];
  for (let i = 0; i + 100 <= live.length && applyMs.length < 200; i += 100) {
    const started = performance.now();
    await projection.apply(live.slice(i, i + 100), fill.length + i);
    applyMs.push(performance.now() - started);
  }

  const constantMs = [];
  let customers = 0;
  for (let i = 0; i < 50; i++) {
    const started = performance.now();
    const check = await checkGenerationCounts(redis, g);
    constantMs.push(performance.now() - started);
    if (check.problem !== undefined) throw new Error(check.problem);
    customers = check.customers;
  }

  // A whole pass of check runs, each as the projector runs it: the O(1) script, then this run's share of the audit.
  const audit = new RollingAudit(PASS_MS, INTERVAL_MS);
  const runMs = [];
  while (audit.passes === 0) {
    const started = performance.now();
    const check = await checkGenerationCounts(redis, g);
    if (check.problem !== undefined) throw new Error(check.problem);
    const problem = await audit.run(redis, g, check.customers);
    runMs.push(performance.now() - started);
    if (problem !== undefined) throw new Error(problem);
  }

  const wholeStarted = performance.now();
  const whole = await auditGeneration(redis, g);
  const wholeMs = performance.now() - wholeStarted;
  if (whole.problem !== undefined) throw new Error(whole.problem);

  const meanRun = runMs.reduce((a, b) => a + b, 0) / runMs.length;
  const applyBatch = median(applyMs);
  console.log(
    JSON.stringify({
      benchmark: "customer_orders partial-loss detection",
      at: new Date().toISOString(),
      run: randomUUID().slice(0, 8),
      events: fill.length,
      orders: whole.found.orders,
      customers,
      pass_ms: PASS_MS,
      interval_ms: INTERVAL_MS,
      apply_batch_100_median_ms: round(applyBatch),
      constant_check_median_ms: round(median(constantMs)),
      check_run_mean_ms: round(meanRun),
      check_run_max_ms: round(Math.max(...runMs)),
      check_runs_per_pass: runMs.length,
      whole_audit_ms: round(wholeMs),
      constant_check_per_apply_batch: round(median(constantMs) / applyBatch),
      check_run_per_apply_batch: round(meanRun / applyBatch),
      whole_audit_per_apply_batch: round(wholeMs / applyBatch),
      check_share_of_apply_capacity: round(meanRun / INTERVAL_MS),
    }),
  );
} finally {
  await close();
}
