#!/usr/bin/env node
// `pnpm bench`: every package's benchmark in one run, then the end-to-end load test against the whole stack, into
// docs/benchmarks.json and docs/benchmarks.md.
//
// A benchmark is a package (packages/* or services/*) with a `bench` script that prints one JSON object on its last
// stdout line and measures its own baseline in the same run. They run one after another in a fixed order (ceilings
// first), each in its own process; one that fails or times out is reported and the run goes on.
//
// The end-to-end run starts the stack (services/stack, `pnpm start`) in an isolated database/namespace, finds the
// maximum command rate (closed loop, 64 in flight, the realistic mix), then runs the load tester open-loop at half
// that rate for 60 s with read-your-writes checks, sampling every read model's lag from /metrics meanwhile.
//
//   node scripts/bench.mjs [--only a,b] [--skip-e2e] [--e2e-only] [--e2e-duration 60] [--timeout 1200]
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus, loadavg, type as osType, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    only: { type: "string" },
    "skip-e2e": { type: "boolean", default: false },
    "e2e-only": { type: "boolean", default: false },
    "e2e-duration": { type: "string", default: "60" },
    "max-duration": { type: "string", default: "20" },
    timeout: { type: "string", default: "1200" },
  },
});
const timeoutMs = Number(args.timeout) * 1000;

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
    git_dirty: git("status", "--porcelain").length > 0,
  };
}

/** Runs a command; resolves with its exit code, stdout, and the tail of stderr (which is also echoed, prefixed). */
function run(command, argv, { cwd = root, env = process.env, label, timeout = timeoutMs } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
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
}

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

const stackEntry = join(root, "services/stack/dist/main.js");
const loadtestEntry = join(root, "packages/loadtest/dist/cli.js");
const testingEntry = join(root, "packages/testing/dist/index.js");
const SERVICES = ["command-service", "query-service", "outbox-relay", "projector-postgres", "projector-redis"];

function e2eAvailable() {
  const missing = [
    stackEntry,
    loadtestEntry,
    testingEntry,
    ...SERVICES.map((s) => join(root, `services/${s}/dist/main.js`)),
  ]
    .filter((f) => !existsSync(f))
    .map((f) => f.slice(root.length + 1));
  return missing;
}

async function waitReady(urls, timeout, stack) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (stack.exitCode !== null) throw new Error(`the stack exited (${stack.exitCode})`);
    const ok = await Promise.all(
      urls.map((u) =>
        fetch(u, { signal: AbortSignal.timeout(1000) })
          .then((r) => r.status === 200)
          .catch(() => false),
      ),
    );
    if (ok.every(Boolean)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not ready within ${timeout / 1000} s: ${urls.join(", ")}`);
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

async function endToEnd() {
  const missing = e2eAvailable();
  if (missing.length > 0) return { status: "skipped", error: `not built: ${missing.join(", ")}` };
  process.stderr.write("\n==> end to end: the whole stack under the load tester\n");
  const testing = await import(pathToFileURL(testingEntry).href);
  const env = await testing.createTestEnvironment();
  const ports = {
    COMMAND_PORT: await testing.freePort(),
    QUERY_PORT: await testing.freePort(),
  };
  const metrics = {};
  for (const s of SERVICES) metrics[s] = await testing.freePort();
  for (const s of SERVICES) ports[`${s.toUpperCase().replaceAll("-", "_")}_METRICS_PORT`] = metrics[s];
  const stackEnv = {
    ...process.env,
    ...env.env,
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
  };
  stackEnv.LOG_LEVEL ??= "warn";
  const stack = spawn(process.execPath, [stackEntry], { cwd: root, env: stackEnv, stdio: ["ignore", "pipe", "pipe"] });
  let stackLog = "";
  const keep = (d) => {
    stackLog = (stackLog + d).slice(-20_000);
  };
  stack.stdout.on("data", keep);
  stack.stderr.on("data", keep);
  const command = `127.0.0.1:${ports.COMMAND_PORT}`;
  const query = `127.0.0.1:${ports.QUERY_PORT}`;
  const mixArgs = ["--duplicates", "1%", "--conflicts", "1%"];
  const result = { status: "failed" };
  try {
    await waitReady(
      SERVICES.map((s) => `http://127.0.0.1:${metrics[s]}/readyz`),
      120_000,
      stack,
    );
    const loadtest = async (label, argv) => {
      const r = await run(process.execPath, [loadtestEntry, "--address", command, ...argv, "--json", "--no-progress"], {
        label,
        timeout: 15 * 60_000,
      });
      if (r.timedOut) throw new Error(`${label}: timed out`);
      const report = lastJson(r.stdout); // exit 1 = an SLO missed: still a measurement
      if (r.code !== 0 && r.code !== 1) throw new Error(`${label}: exit code ${r.code}`);
      return report;
    };
    await loadtest("warm-up", ["--concurrency", "16", "--duration", "5s", ...mixArgs]);
    const maxArgs = ["--concurrency", "64", "--duration", `${args["max-duration"]}s`, ...mixArgs];
    const max = await loadtest("max rate", maxArgs);
    const half = Math.max(1, Math.floor(max.rps / 2));
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
    const sampler = lagSampler(
      ["outbox-relay", "projector-postgres", "projector-redis"].map((s) => `http://127.0.0.1:${metrics[s]}/metrics`),
    );
    const halfReport = await loadtest("half rate", halfArgs);
    const lag = await sampler.stop();
    const lagMax = Math.max(0, ...Object.values(lag.max_seconds), halfReport.ryw?.max_lag_seconds ?? 0);
    const goal = (value, limit) => ({
      value,
      goal: limit,
      met: value !== null && value !== undefined && value <= limit,
    });
    Object.assign(result, {
      status: "ok",
      commands: {
        max_rate: `pnpm loadtest --address <command> ${maxArgs.join(" ")}`,
        half_rate: `pnpm loadtest --address <command> ${halfArgs.join(" ").replace(query, "<query>")}`,
      },
      max_rate: summarize(max),
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
  } catch (error) {
    result.error = error.message;
    result.stack_log_tail = stackLog.slice(-3000);
  } finally {
    stack.kill("SIGTERM");
    const exited = await Promise.race([
      new Promise((r) => stack.once("exit", () => r(true))),
      new Promise((r) => setTimeout(() => r(false), 20_000)),
    ]);
    if (!exited) stack.kill("SIGKILL");
    await env.cleanup().catch((error) => process.stderr.write(`cleanup: ${error.message}\n`));
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

function renderMarkdown(data) {
  const out = [];
  const m = data.machine;
  out.push("# Benchmarks", "");
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
  if (e) {
    const goals = e.goals
      ? Object.entries(e.goals).map(([k, g]) => `${k} ${fmt(g.value)} ≤ ${g.goal}: ${g.met ? "met" : "**missed**"}`)
      : [];
    out.push(`| end to end (whole stack) | ${e.status} | — | ${goals.join("<br>") || "—"} | |`);
  }
  out.push("");
  if (e) {
    out.push("## End to end: the whole stack at half the maximum command rate", "");
    if (e.status !== "ok") out.push(`**${e.status}**: ${e.error ?? ""}`, "");
    else {
      const h = e.half_rate;
      const x = e.max_rate;
      out.push(
        `Stack started by \`services/stack\` (every service a process, isolated database and namespace). Maximum rate: ${fmt(x.rps)} commands/s (closed loop, 64 in flight, ${x.duration_s} s, realistic mix with 1% duplicates and 1% conflicts). Then open loop at half of it for ${h.duration_s} s with read-your-writes checks on 20% of accepted commands, lag sampled from /metrics every 500 ms.`,
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
        "Commands:",
        "",
        "```",
        e.commands.max_rate,
        e.commands.half_rate,
        "```",
        "",
      );
    }
  }
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
const save = () => writeFileSync(`${jsonPath}.tmp`, `${JSON.stringify(data, null, 2)}\n`);

const only = args.only
  ? new Set(args.only.split(",").map((s) => (s.startsWith("@") ? s : `@orderly/${s}`)))
  : undefined;
const benches = args["e2e-only"] ? [] : discover().filter((b) => !only || only.has(b.name));
process.stderr.write(`benchmarks: ${benches.map((b) => b.name).join(", ") || "none"}\n`);
for (const bench of benches) {
  const entry = await runPackageBench(bench);
  data.benches.push({ ...entry, script: bench.script });
  process.stderr.write(`<== ${bench.name}: ${entry.status}${entry.error ? ` (${entry.error})` : ""}\n`);
  save();
}
if (!args["skip-e2e"] && !only) {
  data.end_to_end = await endToEnd();
  process.stderr.write(
    `<== end to end: ${data.end_to_end.status}${data.end_to_end.error ? ` (${data.end_to_end.error})` : ""}\n`,
  );
}
data.finished_at = new Date().toISOString();
save();
renameSync(`${jsonPath}.tmp`, jsonPath);
writeFileSync(join(root, "docs/benchmarks.md"), renderMarkdown(data));
const failed = data.benches.filter((b) => b.status !== "ok").map((b) => b.package);
process.stderr.write(
  `\nwrote docs/benchmarks.json and docs/benchmarks.md${failed.length ? `; failed: ${failed.join(", ")}` : ""}\n`,
);
