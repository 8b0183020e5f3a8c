#!/usr/bin/env node
// `pnpm bench`: every package's benchmark in one run, then the end-to-end load test against the whole stack, into
// docs/benchmarks.json and docs/benchmarks.md.
//
// A benchmark is a package (packages/* or services/*) with a `bench` script that prints one JSON object on its last
// stdout line and measures its own baseline in the same run. They run one after another in a fixed order (ceilings
// first), each in its own process; one that fails or times out is reported and the run goes on.
//
// The end-to-end run starts the five services as processes, in the order and with the environment `pnpm start`
// (services/stack) gives them, in an isolated database/namespace, and finds the maximum command rate (closed loop,
// 64 in flight, the realistic mix). Then its phases:
//   e2e      the load tester open-loop at half that rate for 60 s with read-your-writes checks, every read model's
//            lag sampled from /metrics meanwhile (all services running);
//   catchup  issue 5: both projector processes stopped cleanly (SIGTERM) once caught up, a backlog built at the
//            maximum rate for 60 s, then the projectors started again while live load runs at half rate. Per
//            projection: seconds from the restart until its checkpoint reaches the head at the restart and its
//            projection_lag_seconds is under 1 s and stays there for 10 s. Goal: drained within the backlog's
//            duration (a 60 s backlog within 60 s). Adds about backlog + drain + 10 s (2–3 minutes).
//
// Then the charts linked from the page (docs/benchmarks-*.svg) are redrawn from docs/benchmarks.json by
// scripts/bench-charts.mjs, which also runs alone.
//
// docs/benchmarks.md is rewritten down to the line `<!-- hand-written: kept by scripts/bench.mjs -->`: that line and
// everything after it are carried over verbatim. A file without the marker that this script did not generate is
// kept whole after a new marker.
//
// Usage: node scripts/bench.mjs [options]            (`pnpm bench [options]` builds everything first)
//   --only a,b             only these: package names (`query-service` means @orderly/query-service) and/or the
//                          end-to-end phases `e2e` and `catchup` (either measures the maximum rate first)
//   --skip-e2e             no end-to-end run
//   --e2e-only             the end-to-end run only (both phases, unless --only names one or --skip-catchup)
//   --skip-catchup         no catch-up phase
//   --e2e-duration 60      seconds at half rate in the e2e phase
//   --max-duration 20      seconds of the closed-loop maximum-rate run
//   --catchup-backlog 60   seconds at the maximum rate with the projectors down
//   --catchup-window S     seconds after the restart to wait for the drain (default: backlog + 30)
//   --catchup-lag 1        projection_lag_seconds that counts as caught up
//   --catchup-stay 10      seconds the lag must stay under it
//   --timeout 1200         seconds each package benchmark may take
//   --render-only          measure nothing: rewrite docs/benchmarks.md and its charts from docs/benchmarks.json
//   -h, --help             this text
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus, loadavg, type as osType, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { catchUp } from "./bench-catchup.mjs";
import { CHART_FILES, writeBenchCharts } from "./bench-charts.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function usage() {
  const lines = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  const header = lines.slice(
    1,
    lines.findIndex((l, i) => i > 0 && !l.startsWith("//")),
  );
  return `${header.map((l) => l.replace(/^\/\/ ?/, "")).join("\n")}\n`;
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      only: { type: "string" },
      "skip-e2e": { type: "boolean", default: false },
      "e2e-only": { type: "boolean", default: false },
      "skip-catchup": { type: "boolean", default: false },
      "e2e-duration": { type: "string", default: "60" },
      "max-duration": { type: "string", default: "20" },
      "catchup-backlog": { type: "string", default: "60" },
      "catchup-window": { type: "string" },
      "catchup-lag": { type: "string", default: "1" },
      "catchup-stay": { type: "string", default: "10" },
      timeout: { type: "string", default: "1200" },
      "render-only": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (error) {
  process.stderr.write(`${error.message}\n\n${usage()}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(usage());
  process.exit(0);
}
for (const name of [
  "e2e-duration",
  "max-duration",
  "catchup-backlog",
  "catchup-window",
  "catchup-lag",
  "catchup-stay",
  "timeout",
]) {
  if (args[name] === undefined) continue;
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`--${name} ${JSON.stringify(args[name])}: a positive number of seconds, please\n`);
    process.exit(2);
  }
}
const timeoutMs = Number(args.timeout) * 1000;
const catchUpOptions = {
  backlogSeconds: Number(args["catchup-backlog"]),
  windowSeconds: Number(args["catchup-window"] ?? Number(args["catchup-backlog"]) + 30),
  lagThresholdSeconds: Number(args["catchup-lag"]),
  staySeconds: Number(args["catchup-stay"]),
};

/** Ceilings first (the RPC stack, the generator itself, the database), then Orderly's parts in pipeline order. */
const ORDER = [
  "@orderly/grpc-server",
  "@orderly/loadtest",
  "@orderly/event-store-postgres",
  "@orderly/command-service",
  "@orderly/outbox-relay",
  "@orderly/projector",
  "@orderly/order-read-models",
  "@orderly/query-service",
];

function discover() {
  const found = [];
  for (const parent of ["packages", "services"]) {
    for (const dir of readdirSync(join(root, parent)).sort()) {
      const file = join(root, parent, dir, "package.json");
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, "utf8"));
      if (pkg.scripts?.bench) found.push({ name: pkg.name, dir: join(parent, dir), script: pkg.scripts.bench });
    }
  }
  const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
  return found.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

function machine() {
  const c = cpus();
  const git = (...a) => spawnSync("git", a, { cwd: root, encoding: "utf8" }).stdout.trim();
  return {
    cpu_model: c[0]?.model ?? "unknown",
    cpus: c.length,
    memory_gb: Math.round(totalmem() / 1024 ** 3),
    os: `${osType()} ${release()}`,
    node: process.version,
    load_average_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    git_commit: git("rev-parse", "HEAD"),
    // The bench's own outputs do not make the tree dirty.
    git_dirty: git("status", "--porcelain", "--", ".", ":!docs/benchmarks.md", ":!docs/benchmarks.json").length > 0,
  };
}

/**
 * Starts a command in its own process group; `result` resolves with its exit code, stdout, and the tail of stderr
 * (which is also echoed, prefixed). On timeout the whole group is killed.
 */
function launch(command, argv, { cwd = root, env = process.env, label, timeout = timeoutMs } = {}) {
  const started = Date.now();
  const child = spawn(command, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const result = new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr = (stderr + d).slice(-20_000);
      for (const line of String(d).split("\n")) if (line.trim()) process.stderr.write(`  [${label}] ${line}\n`);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL"); // the bench and everything it started
      } catch {}
    }, timeout);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout, stderr, seconds: Math.round((Date.now() - started) / 100) / 10 });
    });
  });
  return { child, result };
}

const run = (command, argv, options) => launch(command, argv, options).result;

function lastJson(stdout) {
  const lines = stdout
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "");
  const last = lines.at(-1);
  if (!last) throw new Error("printed nothing on stdout");
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`last stdout line is not JSON: ${last.slice(0, 200)}`);
  }
}

async function runPackageBench(bench) {
  process.stderr.write(`\n==> ${bench.name}: ${bench.script}\n`);
  const r = await run("pnpm", ["run", "--silent", "bench"], { cwd: join(root, bench.dir), label: bench.name });
  const entry = {
    package: bench.name,
    dir: bench.dir,
    command: `pnpm --filter ${bench.name} bench`,
    seconds: r.seconds,
  };
  if (r.timedOut) return { ...entry, status: "timeout", error: `no result within ${timeoutMs / 1000} s`, result: null };
  try {
    const result = lastJson(r.stdout);
    if (r.code !== 0) return { ...entry, status: "failed", error: `exit code ${r.code ?? r.signal}`, result };
    return { ...entry, status: "ok", result };
  } catch (error) {
    return {
      ...entry,
      status: "failed",
      error: `${r.code === 0 ? "" : `exit code ${r.code ?? r.signal}; `}${error.message}`,
      stderr_tail: r.stderr.slice(-2000),
      result: null,
    };
  }
}

// ---- end to end ------------------------------------------------------------------------------------------------

const loadtestEntry = join(root, "packages/loadtest/dist/cli.js");
const testingEntry = join(root, "packages/testing/dist/index.js");
const eventStoreEntry = join(root, "packages/event-store-postgres/dist/index.js");
const readModelsTestingEntry = join(root, "packages/order-read-models/dist/testing.js");
/** The stack's start order (services/stack knownServices): each is ready before the next starts. */
const SERVICES = ["command-service", "query-service", "outbox-relay", "projector-postgres", "projector-redis"];
const PROJECTORS = ["projector-postgres", "projector-redis"];
const PHASES = ["e2e", "catchup"];

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

async function endToEnd(phases) {
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
    const maxArgs = ["--concurrency", "64", "--duration", `${args["max-duration"]}s`, ...mixArgs];
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
        `${args["e2e-duration"]}s`,
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

// ---- rendering -------------------------------------------------------------------------------------------------

/** Leaf values of a result as `a.b.c → value` rows (arrays of numbers shown inline, long arrays skipped). */
function flatten(value, prefix = "", rows = []) {
  if (value === null || typeof value !== "object") rows.push([prefix, value]);
  else if (Array.isArray(value)) {
    if (value.length <= 8 && value.every((v) => v === null || typeof v !== "object"))
      rows.push([prefix, value.join(", ")]);
  } else for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, rows);
  return rows;
}

const fmt = (v) => {
  if (typeof v === "number")
    return Number.isInteger(v) ? v.toLocaleString("en-US") : String(Math.round(v * 1000) / 1000);
  if (typeof v === "boolean") return v ? "**yes**" : "**NO**";
  return String(v ?? "—").replaceAll("|", "\\|");
};
const isRatio = (k) => /ratio/i.test(k);
const isGoal = (k, v) => typeof v === "boolean" && /(goal|_met$|\.met$|^met$|passed)/i.test(k);

const HAND_WRITTEN_MARKER = "<!-- hand-written: kept by scripts/bench.mjs -->";
const GENERATED_NOTE =
  "<!-- generated by scripts/bench.mjs: every run rewrites this file down to the hand-written marker; write analysis after it -->";

/**
 * What of the existing docs/benchmarks.md survives a run: from the marker line to the end, verbatim. A file without
 * the marker is kept whole (after a new marker) unless this script wrote it.
 */
function handWritten(existing) {
  if (existing === undefined) return { text: `${HAND_WRITTEN_MARKER}\n`, how: "none yet" };
  const marker = /^[ \t]*<!-- hand-written: kept by scripts\/bench\.mjs -->[ \t]*\r?$/m.exec(existing);
  if (marker) return { text: existing.slice(marker.index), how: "kept from the marker on" };
  const generated = existing.includes(GENERATED_NOTE) || /^# Benchmarks\s+Produced by `pnpm bench/.test(existing);
  if (generated) return { text: `${HAND_WRITTEN_MARKER}\n`, how: "none (the old file was generated)" };
  return { text: `${HAND_WRITTEN_MARKER}\n\n${existing}`, how: "no marker: the whole old file kept after one" };
}

const goalCell = (k, g, unit = "") => `${k} ${fmt(g.value)}${unit} ≤ ${g.goal}${unit}: ${g.met ? "met" : "**missed**"}`;

function renderMarkdown(data) {
  const out = [];
  const m = data.machine;
  out.push(GENERATED_NOTE, "", "# Benchmarks", "");
  out.push(
    `Produced by \`${data.command}\` on ${data.finished_at.slice(0, 10)} (${data.started_at} → ${data.finished_at}), commit \`${m.git_commit.slice(0, 12)}\`${m.git_dirty ? " (with uncommitted changes)" : ""}.`,
  );
  out.push(
    `Machine: ${m.cpus} × ${m.cpu_model}, ${m.memory_gb} GB, ${m.os}, Node ${m.node}; load average at start ${m.load_average_at_start.join(" / ")}.`,
  );
  out.push(
    "",
    "Every benchmark measures its own baseline (the ceiling it is compared with) in the same run, in its own process;",
    "figures from a busy machine are indicative only — compare the ratios. Re-run everything with `pnpm bench`",
    "(one benchmark: `pnpm --filter <package> bench`). The raw figures are in `docs/benchmarks.json`.",
    "",
    `![Each figure that has a goal, against its goal](${CHART_FILES.goals})`,
    "",
    `![End-to-end latency percentiles with their goals](${CHART_FILES.latency})`,
    "",
    "The charts are drawn from `docs/benchmarks.json` by `node scripts/bench-charts.mjs` (`pnpm bench` runs it).",
    "",
  );
  out.push(
    "## Summary",
    "",
    "| benchmark | status | ratios (same-run baseline) | goals | time |",
    "|---|---|---|---|---|",
  );
  for (const b of data.benches) {
    const rows = b.result ? flatten(b.result) : [];
    const ratios = rows.filter(([k, v]) => isRatio(k) && typeof v === "number").map(([k, v]) => `${k} ${fmt(v)}`);
    const goals = rows.filter(([k, v]) => isGoal(k, v)).map(([k, v]) => `${k}: ${v ? "met" : "**missed**"}`);
    out.push(
      `| ${b.package} | ${b.status} | ${ratios.join("<br>") || "—"} | ${goals.join("<br>") || "—"} | ${b.seconds} s |`,
    );
  }
  const e = data.end_to_end;
  const c = e?.catch_up;
  if (e && (e.status !== "ok" || e.goals)) {
    const goals = e.goals ? Object.entries(e.goals).map(([k, g]) => goalCell(k, g)) : [];
    out.push(
      `| end to end (whole stack, half the maximum rate) | ${e.status} | — | ${goals.join("<br>") || "—"} | ${e.seconds ?? ""} s |`,
    );
  }
  if (c) {
    const goals = c.goals ? Object.entries(c.goals).map(([k, g]) => goalCell(k, g, " s")) : [];
    out.push(
      `| catch-up (projectors down, ${c.options?.backlogSeconds ?? c.options?.backlog_s} s backlog at the maximum rate) | ${c.status} | — | ${goals.join("<br>") || "—"} | ${c.seconds ?? "—"} s |`,
    );
  }
  out.push("");
  if (e) {
    out.push(`## End to end: the whole stack${e.half_rate ? " at half the maximum command rate" : ""}`, "");
    if (e.status !== "ok") out.push(`**${e.status}**: ${e.error ?? ""}`, "");
    if (e.service_log_tails) {
      for (const [name, tail] of Object.entries(e.service_log_tails)) {
        if (tail.trim()) out.push(`${name}:`, "", "```", tail.trim().split("\n").slice(-10).join("\n"), "```", "");
      }
    }
    const x = e.max_rate;
    if (x) {
      out.push(
        `Services started as processes in the order and with the environment of \`services/stack\` (\`pnpm start\`), isolated database and namespace. Maximum rate: ${fmt(x.rps)} commands/s (closed loop, 64 in flight, ${x.duration_s} s, realistic mix with 1% duplicates and 1% conflicts).`,
        "",
      );
    }
    const h = e.half_rate;
    if (h) {
      out.push(
        `Then open loop at half of it for ${h.duration_s} s with read-your-writes checks on 20% of accepted commands, lag sampled from /metrics every 500 ms.`,
        "",
        "| figure | value | goal | met |",
        "|---|---|---|---|",
      );
      for (const [k, g] of Object.entries(e.goals))
        out.push(`| ${k} | ${fmt(g.value)} | ≤ ${g.goal} | ${fmt(g.met)} |`);
      out.push(
        "",
        `Command latency at ${fmt(h.rate)}/s (from the intended send time): p50 ${fmt(h.latency_ms.p50)} ms, p90 ${fmt(h.latency_ms.p90)} ms, p99 ${fmt(h.latency_ms.p99)} ms, p99.9 ${fmt(h.latency_ms.p99_9)} ms, max ${fmt(h.latency_ms.max)} ms; ${fmt(h.total)} calls, ${fmt(h.errors)} errors, status codes ${JSON.stringify(h.status_codes)}.`,
      );
      if (h.ryw) {
        out.push(
          `Command → visible (GetOrderSummary with min_position): ${fmt(h.ryw.checks)} checks, ${fmt(h.ryw.failed)} failed; p50 ${fmt(h.ryw.latency_ms.p50)} ms, p99 ${fmt(h.ryw.latency_ms.p99)} ms, max ${fmt(h.ryw.latency_ms.max)} ms.`,
        );
      }
      out.push(
        `Largest lag sampled: ${Object.entries(e.lag_sampled.max_seconds)
          .map(([k, v]) => `${k} ${fmt(v)} s`)
          .join(", ")} (${e.lag_sampled.samples} samples).`,
        `Generator CPU: ${fmt(h.generator.cpu_percent)}% of one core, ${fmt(h.generator.cpu_per_call_us)} µs per call${h.generator.saturated ? ` — **saturated: ${h.generator.saturation_reasons.join("; ")}**` : ""}.`,
        "",
      );
    }
    if (e.commands) out.push("Commands:", "", "```", ...Object.values(e.commands), "```", "");
  }
  if (c) out.push(...renderCatchUp(c));
  for (const b of data.benches) {
    out.push(`## ${b.package}`, "", `\`${b.command}\` (${b.script}) — ${b.status}, ${b.seconds} s`, "");
    if (b.error) out.push(`Error: ${b.error}`, "");
    if (b.stderr_tail) out.push("```", b.stderr_tail.trim().split("\n").slice(-15).join("\n"), "```", "");
    if (b.result) {
      out.push("| figure | value |", "|---|---|");
      for (const [k, v] of flatten(b.result)) out.push(`| ${k} | ${fmt(v)} |`);
      out.push("");
    }
  }
  return `${out.join("\n")}\n`;
}

const saturation = (load) =>
  load.generator?.saturated ? ` — **generator saturated: ${load.generator.saturation_reasons.join("; ")}**` : "";

function renderCatchUp(c) {
  const out = [];
  const backlogSeconds = c.options?.backlog_s ?? c.options?.backlogSeconds;
  out.push(`## Catch-up: a ${backlogSeconds} s backlog at the maximum rate, drained under live load (issue 5)`, "");
  if (c.status !== "ok") {
    out.push(`**${c.status}**: ${c.error ?? ""}`, "");
    return out;
  }
  const o = c.options;
  const b = c.backlog;
  const l = c.live;
  out.push(
    `Both projector processes were stopped cleanly (SIGTERM) with their checkpoints at the head (position ${fmt(c.head.at_stop)}). The command service then ran open loop at the maximum rate, ${fmt(o.max_rate)} commands/s, for ${o.backlog_s} s: ${fmt(b.load.total)} calls at ${fmt(b.load.rps)}/s (${fmt(b.load.schedule?.late)} sent late, ${fmt(b.load.schedule?.dropped)} dropped, ${fmt(b.load.errors)} errors, p99 ${fmt(b.load.latency_ms.p99)} ms${saturation(b.load)}), ${fmt(b.events)} events (${fmt(b.events_per_s)}/s), while the relay kept publishing. Live load at half rate started, and the projectors were started again (new processes, same durable consumers and checkpoints) after ${fmt(c.projectors_down_s)} s down, at head ${fmt(c.head.at_restart)}.`,
    "",
    `Times are from the restart (process start, so start-up is included). Drained: the checkpoint reached the head at the restart and \`projection_lag_seconds\` was at most ${o.lag_threshold_s} s and stayed so for ${o.stay_s} s (sampled every 250 ms; window ${o.window_s} s). Drain rate: backlog events / seconds until the checkpoint reached the head at the restart.`,
    "",
    `| projection | backlog events | ready (s) | checkpoint at restart head (s) | drained (s) | drain events/s | lag at ready (s) | peak lag (s) | lag at end (s) | drained within ${backlogSeconds} s |`,
    "|---|---|---|---|---|---|---|---|---|---|",
  );
  for (const [name, p] of Object.entries(c.projections)) {
    const g = c.goals[`${name}_drain_s`];
    out.push(
      `| ${name} (${p.projector}) | ${fmt(p.backlog_events)} | ${fmt(p.ready_s)} | ${fmt(p.reached_head_s)} | ${fmt(p.drain_s)} | ${fmt(p.drain_events_per_s)} | ${fmt(p.lag_at_ready_s)} | ${fmt(p.peak_lag_s)} | ${fmt(p.lag_at_end_s)} | ${fmt(g?.met)} |`,
    );
  }
  out.push("");
  if (l) {
    out.push(
      `Live load during the drain (stopped once both had stayed drained): target ${fmt(l.rate)}/s, achieved ${fmt(l.rps)}/s over ${fmt(l.total)} calls; command latency p50 ${fmt(l.latency_ms.p50)} ms, p99 ${fmt(l.latency_ms.p99)} ms; ${fmt(l.errors)} errors${saturation(l)}.`,
      "",
    );
  }
  out.push("Commands:", "", "```", c.commands.backlog, c.commands.live, "```", "");
  return out;
}

// ---- main ------------------------------------------------------------------------------------------------------

const data = {
  command: `pnpm bench${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`,
  started_at: new Date().toISOString(),
  finished_at: "",
  machine: machine(),
  benches: [],
  end_to_end: null,
};
const jsonPath = join(root, "docs/benchmarks.json");
const mdPath = join(root, "docs/benchmarks.md");
const save = () => writeFileSync(`${jsonPath}.tmp`, `${JSON.stringify(data, null, 2)}\n`);

/** docs/benchmarks.md down to the marker, then the charts, from `data`. */
async function writePage(data) {
  const kept = handWritten(existsSync(mdPath) ? readFileSync(mdPath, "utf8") : undefined);
  writeFileSync(mdPath, `${renderMarkdown(data).trimEnd()}\n\n${kept.text}`);
  let charts;
  try {
    const changed = await writeBenchCharts();
    charts = changed.length > 0 ? `redrew ${changed.join(", ")}` : "charts unchanged";
  } catch (error) {
    charts = `charts NOT drawn: ${error.message}`;
  }
  return { kept, charts };
}

if (args["render-only"]) {
  const { kept, charts } = await writePage(JSON.parse(readFileSync(jsonPath, "utf8")));
  process.stderr.write(
    `rewrote docs/benchmarks.md from docs/benchmarks.json (hand-written part: ${kept.how}); ${charts}\n`,
  );
  process.exit(0);
}

// --only: package names and end-to-end phase names, in any mix.
const onlyNames = args.only
  ?.split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const onlyPhases = onlyNames?.filter((s) => PHASES.includes(s));
const onlyPackages = onlyNames
  ?.filter((s) => !PHASES.includes(s))
  .map((s) => (s.startsWith("@") ? s : `@orderly/${s}`));
const discovered = discover();
const unknown = (onlyPackages ?? []).filter((name) => !discovered.some((b) => b.name === name));
if (unknown.length > 0) {
  process.stderr.write(
    `--only: no benchmark named ${unknown.join(", ")} (packages: ${discovered.map((b) => b.name).join(", ")}; phases: ${PHASES.join(", ")})\n`,
  );
  process.exit(2);
}
const benches = args["e2e-only"] ? [] : discovered.filter((b) => !onlyPackages || onlyPackages.includes(b.name));
const phases = args["skip-e2e"]
  ? []
  : (onlyPhases && (onlyPhases.length > 0 || !args["e2e-only"]) ? onlyPhases : PHASES).filter(
      (p) => p !== "catchup" || !args["skip-catchup"],
    );
process.stderr.write(
  `benchmarks: ${benches.map((b) => b.name).join(", ") || "none"}; end-to-end phases: ${phases.join(", ") || "none"}\n`,
);
for (const bench of benches) {
  const entry = await runPackageBench(bench);
  data.benches.push({ ...entry, script: bench.script });
  process.stderr.write(`<== ${bench.name}: ${entry.status}${entry.error ? ` (${entry.error})` : ""}\n`);
  save();
}
if (phases.length > 0) {
  data.end_to_end = await endToEnd(phases);
  process.stderr.write(
    `<== end to end: ${data.end_to_end.status}${data.end_to_end.error ? ` (${data.end_to_end.error})` : ""}\n`,
  );
}
data.finished_at = new Date().toISOString();
save();
renameSync(`${jsonPath}.tmp`, jsonPath);
const { kept, charts } = await writePage(data);
const failed = data.benches.filter((b) => b.status !== "ok").map((b) => b.package);
process.stderr.write(
  `\nwrote docs/benchmarks.json and docs/benchmarks.md (hand-written part: ${kept.how}); ${charts}${failed.length ? `; failed: ${failed.join(", ")}` : ""}\n`,
);
