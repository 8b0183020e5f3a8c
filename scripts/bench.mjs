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
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus, loadavg, type as osType, release, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { endToEnd, PHASES } from "./bench/end-to-end.mjs";
import { handWritten, renderMarkdown } from "./bench/markdown.mjs";
import { discover, runPackageBench } from "./bench/packages.mjs";
import { root } from "./bench/processes.mjs";
import { writeBenchCharts } from "./bench-charts.mjs";

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
  const entry = await runPackageBench(bench, timeoutMs);
  data.benches.push({ ...entry, script: bench.script });
  process.stderr.write(`<== ${bench.name}: ${entry.status}${entry.error ? ` (${entry.error})` : ""}\n`);
  save();
}
if (phases.length > 0) {
  data.end_to_end = await endToEnd(phases, {
    maxDuration: args["max-duration"],
    e2eDuration: args["e2e-duration"],
    catchUpOptions,
  });
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
