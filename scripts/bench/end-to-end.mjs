// The end-to-end run of `pnpm bench` (scripts/bench.mjs): the five services started as processes the way
// services/stack starts them, the closed-loop maximum rate, then the phases: `e2e` (open loop at half that rate, lag
// sampled meanwhile) here, `catchup` in scripts/bench-catchup.mjs.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { catchUp } from "../bench-catchup.mjs";
import { lastJson, launch, root, run } from "./processes.mjs";

const loadtestEntry = join(root, "packages/loadtest/dist/cli.js");
const testingEntry = join(root, "packages/testing/dist/index.js");
const eventStoreEntry = join(root, "packages/event-store-postgres/dist/index.js");
const readModelsTestingEntry = join(root, "packages/order-read-models/dist/testing.js");
/** The stack's start order (services/stack knownServices): each is ready before the next starts. */
const SERVICES = ["command-service", "query-service", "outbox-relay", "projector-postgres", "projector-redis"];
const PROJECTORS = ["projector-postgres", "projector-redis"];
export const PHASES = ["e2e", "catchup"];

function e2eAvailable() {
  const missing = [
    loadtestEntry,
    testingEntry,
    eventStoreEntry,
    readModelsTestingEntry,
    ...SERVICES.map((s) => join(root, `services/${s}/dist/main.js`)),
  ]
    .filter((f) => !existsSync(f))
    .map((f) => f.slice(root.length + 1));
  return missing;
}

/** Samples projection_lag_seconds (per projection) and outbox_lag_seconds; keeps the maximum of each. */
function lagSampler(metricsUrls) {
  const max = {};
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const url of metricsUrls) {
        try {
          const text = await (await fetch(url, { signal: AbortSignal.timeout(1000) })).text();
          for (const m of text.matchAll(/^projection_lag_seconds\{[^}]*projection="([^"]+)"[^}]*\} (\S+)$/gm)) {
            max[m[1]] = Math.max(max[m[1]] ?? 0, Number(m[2]));
          }
          for (const m of text.matchAll(/^outbox_lag_seconds(?:\{[^}]*\})? (\S+)$/gm)) {
            max.outbox_relay = Math.max(max.outbox_relay ?? 0, Number(m[1]));
          }
        } catch {}
      }
      samples += 1;
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { max_seconds: max, samples };
    },
  };
}

function summarize(report) {
  return {
    mode: report.options.mode,
    rate: report.options.rate,
    concurrency: report.options.concurrency,
    duration_s: report.options.duration_s,
    total: report.total,
    rps: report.rps,
    errors: report.errors,
    error_rate: report.error_rate,
    status_codes: report.status_codes,
    latency_ms: report.latency_ms,
    schedule: report.schedule && {
      intended: report.schedule.intended,
      sent: report.schedule.sent,
      late: report.schedule.late,
      dropped: report.schedule.dropped,
    },
    ryw: report.ryw && {
      checks: report.ryw.checks,
      ok: report.ryw.ok,
      failed: report.ryw.failed,
      latency_ms: report.ryw.latency_ms,
      max_lag_seconds: report.ryw.max_lag_seconds,
    },
    generator: report.generator,
    command: report.command,
  };
}
/**
 * The end-to-end run with these phases. `maxDuration` and `e2eDuration` are the seconds as the flags give them;
 * `catchUpOptions` go to the catch-up phase.
 */
export async function endToEnd(phases, { maxDuration, e2eDuration, catchUpOptions }) {
  const missing = e2eAvailable();
  if (missing.length > 0) return { status: "skipped", phases, error: `not built: ${missing.join(", ")}` };
  process.stderr.write(`\n==> end to end: the whole stack under the load tester (${phases.join(", ")})\n`);
  const started = performance.now();
  const testing = await import(pathToFileURL(testingEntry).href);
  const { createPool, PostgresEventLog } = await import(pathToFileURL(eventStoreEntry).href);
  const { dropCustomerOrders } = await import(pathToFileURL(readModelsTestingEntry).href);
  // projector-redis's keys go by the read model's own index, never by a SCAN of the shared Redis.
  const env = await testing.createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  const ports = { COMMAND_PORT: await testing.freePort(), QUERY_PORT: await testing.freePort() };
  const metrics = {};
  for (const s of SERVICES) metrics[s] = await testing.freePort();
  const metricsUrl = (s) => `http://127.0.0.1:${metrics[s]}/metrics`;

  // What services/stack does: one process per service, METRICS_PORT each, the stack's environment.
  const running = new Map();
  const stopping = new Set();
  let died;
  const startOne = async (name) => {
    const service = await testing.startService({
      name,
      entry: join(root, `services/${name}/dist/main.js`),
      env: {
        ...env.env,
        COMMAND_PORT: String(ports.COMMAND_PORT),
        QUERY_PORT: String(ports.QUERY_PORT),
        METRICS_PORT: String(metrics[name]),
        ...("LOG_LEVEL" in process.env ? {} : { LOG_LEVEL: "warn" }),
      },
      readyUrl: `http://127.0.0.1:${metrics[name]}/readyz`,
      readyTimeoutMs: 120_000,
    });
    running.set(name, service);
    void service.exited.then((code) => {
      if (!stopping.has(service)) died ??= `${name} exited unexpectedly (${code})`;
    });
    return service;
  };
  const stopOne = async (name) => {
    const service = running.get(name);
    if (!service) return undefined;
    stopping.add(service);
    running.delete(name);
    return service.stop("SIGTERM", 20_000);
  };
  const checkAlive = () => {
    if (died) throw new Error(died);
  };

  const command = `127.0.0.1:${ports.COMMAND_PORT}`;
  const query = `127.0.0.1:${ports.QUERY_PORT}`;
  const mixArgs = ["--duplicates", "1%", "--conflicts", "1%"];
  const loadtestArgv = (argv) => [loadtestEntry, "--address", command, ...argv, "--json", "--no-progress"];
  const readReport = (label, r) => {
    if (r.timedOut) throw new Error(`${label}: timed out`);
    const report = lastJson(r.stdout); // exit 1 = an SLO missed: still a measurement
    if (r.code !== 0 && r.code !== 1) throw new Error(`${label}: exit code ${r.code ?? r.signal}`);
    return report;
  };
  const loadtest = async (label, argv) => {
    const r = await run(process.execPath, loadtestArgv(argv), { label, timeout: 15 * 60_000 });
    return readReport(label, r);
  };
  /** A load-test run in the background; stop() ends it early (SIGTERM: it finishes the calls in flight and reports). */
  const startLoadtest = (label, argv) => {
    const { child, result } = launch(process.execPath, loadtestArgv(argv), { label, timeout: 15 * 60_000 });
    return {
      stop: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      },
      report: result.then((r) => readReport(label, r)),
    };
  };

  const result = { status: "failed", phases };
  let pool;
  try {
    for (const s of SERVICES) await startOne(s);
    pool = createPool(env.databaseUrl, { max: 1 });
    const eventLog = new PostgresEventLog(pool);
    await loadtest("warm-up", ["--concurrency", "16", "--duration", "5s", ...mixArgs]);
    const maxArgs = ["--concurrency", "64", "--duration", `${maxDuration}s`, ...mixArgs];
    const max = await loadtest("max rate", maxArgs);
    checkAlive();
    const maxRate = Math.max(1, Math.floor(max.rps));
    const half = Math.max(1, Math.floor(max.rps / 2));
    result.commands = { max_rate: `pnpm loadtest --address <command> ${maxArgs.join(" ")}` };
    result.max_rate = summarize(max);

    if (phases.includes("e2e")) {
      const halfArgs = [
        "--rate",
        String(half),
        "--duration",
        `${e2eDuration}s`,
        ...mixArgs,
        "--ryw-rate",
        "20%",
        "--query-address",
        query,
        "--slo",
        "p99<25ms,ryw_p50<10ms,ryw_p99<50ms,errors<0.1%,lag<1s",
      ];
      const sampler = lagSampler(["outbox-relay", ...PROJECTORS].map(metricsUrl));
      const halfReport = await loadtest("half rate", halfArgs);
      const lag = await sampler.stop();
      checkAlive();
      const lagMax = Math.max(0, ...Object.values(lag.max_seconds), halfReport.ryw?.max_lag_seconds ?? 0);
      const goal = (value, limit) => ({
        value,
        goal: limit,
        met: value !== null && value !== undefined && value <= limit,
      });
      Object.assign(result, {
        half_rate: summarize(halfReport),
        lag_sampled: lag,
        goals: {
          command_p99_ms_at_half_rate: goal(halfReport.latency_ms.p99, 25),
          command_to_visible_p50_ms: goal(halfReport.ryw?.latency_ms.p50, 10),
          command_to_visible_p99_ms: goal(halfReport.ryw?.latency_ms.p99, 50),
          max_lag_seconds: goal(lagMax, 1),
          errors: goal(halfReport.error_rate, 0.001),
        },
        slo: halfReport.slo,
      });
      result.commands.half_rate = `pnpm loadtest --address <command> ${halfArgs.join(" ").replace(query, "<query>")}`;
    }

    if (phases.includes("catchup")) {
      process.stderr.write("\n==> catch-up: projectors down, backlog at the maximum rate, drain under live load\n");
      try {
        result.catch_up = await catchUp({
          ...catchUpOptions,
          projectors: PROJECTORS,
          maxRate,
          liveRate: half,
          mixArgs,
          metricsUrl,
          stopProjector: stopOne,
          startProjector: startOne,
          headPosition: () => eventLog.headPosition(),
          runLoad: loadtest,
          startLoad: startLoadtest,
          summarize,
          checkAlive,
          log: (line) => process.stderr.write(`  [catch-up] ${line}\n`),
        });
      } catch (error) {
        result.catch_up = { status: "failed", error: error.message, options: catchUpOptions };
      }
      process.stderr.write(
        `<== catch-up: ${result.catch_up.status}${result.catch_up.error ? ` (${result.catch_up.error})` : ""}\n`,
      );
    }
    checkAlive();
    result.status = "ok";
  } catch (error) {
    result.error = error.message;
  } finally {
    if (result.status !== "ok" || result.catch_up?.status === "failed") {
      result.service_log_tails = Object.fromEntries(
        [...running.values()].map((s) => [s.name, s.output().slice(-1500)]),
      );
    }
    await pool?.end().catch(() => {});
    for (const name of [...running.keys()].reverse()) await stopOne(name).catch(() => {});
    await env.cleanup().catch((error) => process.stderr.write(`cleanup: ${error.message}\n`));
    result.seconds = Math.round((performance.now() - started) / 100) / 10;
  }
  return result;
}
