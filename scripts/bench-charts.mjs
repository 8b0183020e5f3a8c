#!/usr/bin/env node
// The charts of docs/benchmarks.md, drawn from docs/benchmarks.json (pnpm bench calls this after every run; it also
// runs alone, without measuring anything):
//   docs/benchmarks-goals.svg     every figure that has a goal: its value against the goal, met or missed
//   docs/benchmarks-latency.svg   the end-to-end run's latency percentiles (commands, and command → visible) with
//                                 their goals, as an HDR percentile plot
// Same JSON in, same bytes out: the charts carry no date and no randomness.
//
// Usage: node scripts/bench-charts.mjs [--json docs/benchmarks.json] [--out docs] [--check]
//   --check   write nothing; exit 1 when the files in --out differ from what the JSON gives (CI, tests)
// Needs packages/svg-charts built (pnpm build; pnpm bench builds first).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const chartsEntry = join(root, "packages/svg-charts/dist/index.js");

export const CHART_FILES = {
  goals: "benchmarks-goals.svg",
  latency: "benchmarks-latency.svg",
};

const get = (value, path) =>
  path.split(".").reduce((v, k) => (v === null || v === undefined ? undefined : v[k]), value);
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * Figures with a goal, per package: [label, path of the value, the goal (a path or a number), better, unit].
 * A row whose value or goal is missing from the JSON is left out (a package that failed, an older JSON).
 */
const PACKAGE_GOALS = {
  "@orderly/loadtest": [["generator CPU per call / plain grpc-js client", "ratio_to_plain", 1, "lower", "×"]],
  "@orderly/event-store-postgres": [
    ["appends/s at 64 in flight / pgbench ceiling", "ratio.store_64_vs_pgbench", "ratio.goal", "higher", "×"],
  ],
  "@orderly/command-service": [
    ["commands/s / bare gRPC ceiling", "ratio_to_rpc_ceiling", "goals.ratio_to_rpc_ceiling_at_least", "higher", "×"],
    [
      "command p99 at half the maximum rate",
      "orderly_at_half_max.p99_ms",
      "goals.p99_at_half_max_ms_at_most",
      "lower",
      " ms",
    ],
  ],
  "@orderly/outbox-relay": [
    [
      "relay backlog drain / plain async publish",
      "backlogDrain.ratio_vs_plain_async_publish",
      "backlogDrain.goal_ratio",
      "higher",
      "×",
    ],
    ["commit → JetStream ack p50", "commitToAck.p50Ms", "commitToAck.goal.p50Ms", "lower", " ms"],
    ["commit → JetStream ack p99", "commitToAck.p99Ms", "commitToAck.goal.p99Ms", "lower", " ms"],
  ],
  "@orderly/order-read-models": [
    [
      "live projection / baseline, Postgres (batch 100)",
      "live.batch_100.postgres_live_ratio",
      "goals.live_ratio",
      "higher",
      "×",
    ],
    [
      "live projection / baseline, Redis (batch 100)",
      "live.batch_100.redis_live_ratio",
      "goals.live_ratio",
      "higher",
      "×",
    ],
    [
      "rebuild into Postgres",
      "postgres_rebuild_events_per_s",
      ["goals.postgres_rebuild_events_per_s", "goals.rebuild_events_per_s"],
      "higher",
      " events/s",
    ],
    [
      "rebuild into Redis",
      "redis_rebuild_events_per_s",
      ["goals.redis_rebuild_events_per_s", "goals.rebuild_events_per_s"],
      "higher",
      " events/s",
    ],
  ],
  "@orderly/query-service": [
    [
      "GetOrderSummary / Postgres primary-key read",
      "reads_per_second.get_order_summary_ratio",
      "reads_per_second.goal_ratio",
      "higher",
      "×",
    ],
    [
      "ListCustomerOrders / Redis HGETALL",
      "reads_per_second.list_customer_orders_ratio",
      "reads_per_second.goal_ratio",
      "higher",
      "×",
    ],
    ["command → visible p50", "command_to_visible.p50_ms", (r) => goalFromText(r, "p50"), "lower", " ms"],
    ["command → visible p99", "command_to_visible.p99_ms", (r) => goalFromText(r, "p99"), "lower", " ms"],
  ],
};

/** "p50 <= 10 ms, p99 <= 50 ms" → 10 for p50. */
function goalFromText(result, percentile) {
  const m = new RegExp(`${percentile}\\s*<=\\s*([\\d.]+)\\s*ms`).exec(
    String(get(result, "command_to_visible.goal") ?? ""),
  );
  return m ? Number(m[1]) : undefined;
}

const E2E_LABELS = {
  command_p99_ms_at_half_rate: ["command p99 at half the maximum rate", " ms"],
  command_to_visible_p50_ms: ["command → visible p50", " ms"],
  command_to_visible_p99_ms: ["command → visible p99", " ms"],
  max_lag_seconds: ["largest read-model lag", " s"],
  errors: ["error rate", ""],
};

/** Every goal in the JSON, in the page's order: package benchmarks, then end to end, then catch-up. */
export function goalRows(data) {
  const rows = [];
  for (const bench of data.benches ?? []) {
    for (const [label, valuePath, goalSpec, better, unit] of PACKAGE_GOALS[bench.package] ?? []) {
      const r = bench.result;
      if (!r) continue;
      const value = num(get(r, valuePath));
      const specs = Array.isArray(goalSpec) ? goalSpec : [goalSpec];
      let goal;
      for (const spec of specs) {
        goal ??= num(typeof spec === "number" ? spec : typeof spec === "function" ? spec(r) : get(r, spec));
      }
      if (value === undefined || goal === undefined) continue;
      rows.push({ group: bench.package, label, value, goal, better, unit });
    }
  }
  const e = data.end_to_end;
  for (const [key, g] of Object.entries(e?.goals ?? {})) {
    const [label, unit] = E2E_LABELS[key] ?? [key.replaceAll("_", " "), ""];
    if (num(g.goal) === undefined) continue;
    rows.push({
      group: "end to end (whole stack)",
      label,
      value: num(g.value) ?? null,
      goal: g.goal,
      better: "lower",
      unit,
    });
  }
  for (const [key, g] of Object.entries(e?.catch_up?.goals ?? {})) {
    if (num(g.goal) === undefined) continue;
    const label = `${key.replace(/_drain_s$/, "").replaceAll("_", " ")} drained after restart`;
    rows.push({
      group: "catch-up (projectors down, backlog)",
      label,
      value: num(g.value) ?? null,
      goal: g.goal,
      better: "lower",
      unit: " s",
    });
  }
  return rows;
}

const PERCENTILES = [
  ["p50", 0.5],
  ["p90", 0.9],
  ["p99", 0.99],
  ["p99_9", 0.999],
];
const quantileX = (q) => 1 / (1 - q);

/** Points of a latency summary on the percentile axis; the maximum at the last quantile one sample stands for. */
function summaryPoints(summary) {
  if (!summary || !(summary.count > 0)) return { x: [], y: [] };
  const last = 1 - 1 / summary.count;
  const points = PERCENTILES.filter(([, q]) => q < last).map(([k, q]) => [quantileX(q), summary[k]]);
  points.push([quantileX(last), summary.max]);
  return { x: points.map((p) => p[0]), y: points.map((p) => p[1]) };
}

export function renderCharts(data, charts) {
  const { goalChart, lineChart, PALETTE, percentileTicks } = charts;
  const m = data.machine ?? {};
  const commit = String(m.git_commit ?? "").slice(0, 12);
  const rows = goalRows(data);
  const met = rows.filter((r) => r.value !== null && (r.better === "lower" ? r.value <= r.goal : r.value >= r.goal));
  const goals = goalChart({
    id: "benchmark-goals",
    title: `Benchmark goals: ${met.length} of ${rows.length} met`,
    subtitle: `pnpm bench at ${commit || "?"} (${m.cpus ?? "?"} × ${m.cpu_model ?? "?"}); each bar on its own scale, the black tick is the goal`,
    rows,
  });

  const h = data.end_to_end?.half_rate;
  const series = [];
  if (h) {
    const c = summaryPoints(h.latency_ms);
    series.push({
      name: `commands (${Math.round(h.rate ?? 0)}/s open loop)`,
      key: "commands",
      x: c.x,
      y: c.y,
      color: PALETTE.blue,
      markers: true,
    });
    const v = summaryPoints(h.ryw?.latency_ms);
    if (v.x.length > 0)
      series.push({ name: "command → visible", key: "ryw", x: v.x, y: v.y, color: PALETTE.green, markers: true });
  }
  const g = data.end_to_end?.goals ?? {};
  const goalSeries = (name, key, color, points) => {
    const kept = points.filter(([v]) => num(v) !== undefined);
    if (kept.length === 0) return;
    series.push({
      name,
      key,
      x: kept.map(([, q]) => quantileX(q)),
      y: kept.map(([v]) => v),
      color,
      line: false,
      marker: "cross",
    });
  };
  goalSeries(`goal: command p99 ≤ ${g.command_p99_ms_at_half_rate?.goal} ms`, "command-goal", PALETTE.blue, [
    [g.command_p99_ms_at_half_rate?.goal, 0.99],
  ]);
  goalSeries(
    `goals: visible p50 ≤ ${g.command_to_visible_p50_ms?.goal} ms, p99 ≤ ${g.command_to_visible_p99_ms?.goal} ms`,
    "visible-goal",
    PALETTE.green,
    [
      [g.command_to_visible_p50_ms?.goal, 0.5],
      [g.command_to_visible_p99_ms?.goal, 0.99],
    ],
  );
  const maxX = Math.max(1000, ...series.flatMap((s) => s.x));
  const latency = lineChart({
    id: "benchmark-latency",
    title: h
      ? `End to end at half the maximum rate: latency percentiles (${commit || "?"})`
      : "End to end: no latency figures in docs/benchmarks.json",
    x: {
      label: "percentile (log scale in 1 / (1 − quantile))",
      log: true,
      min: 1,
      max: maxX,
      ticks: percentileTicks(5),
    },
    y: { label: "ms", min: 0 },
    series,
    emptyText: "the end-to-end run did not complete",
  });
  return { [CHART_FILES.goals]: `${goals}\n`, [CHART_FILES.latency]: `${latency}\n` };
}

/** Writes (or with check, compares) the charts; returns the names of files that differ (check) or were written. */
export async function writeBenchCharts({
  json = join(root, "docs/benchmarks.json"),
  out = join(root, "docs"),
  check = false,
} = {}) {
  if (!existsSync(chartsEntry)) throw new Error(`${chartsEntry} is missing: run pnpm build first`);
  const charts = await import(pathToFileURL(chartsEntry).href);
  const data = JSON.parse(readFileSync(json, "utf8"));
  const files = renderCharts(data, charts);
  const changed = [];
  for (const [name, text] of Object.entries(files)) {
    const file = join(out, name);
    const same = existsSync(file) && readFileSync(file, "utf8") === text;
    if (!same) changed.push(name);
    if (!check && !same) writeFileSync(file, text);
  }
  return changed;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: { json: { type: "string" }, out: { type: "string" }, check: { type: "boolean", default: false } },
  });
  try {
    const changed = await writeBenchCharts({
      ...(values.json ? { json: values.json } : {}),
      ...(values.out ? { out: values.out } : {}),
      check: values.check,
    });
    if (values.check && changed.length > 0) {
      process.stderr.write(`out of date with the JSON: ${changed.join(", ")} (run node scripts/bench-charts.mjs)\n`);
      process.exit(1);
    }
    process.stderr.write(
      values.check
        ? "charts match the JSON\n"
        : `charts: ${changed.length > 0 ? `wrote ${changed.join(", ")}` : "unchanged"}\n`,
    );
  } catch (error) {
    process.stderr.write(`bench-charts: ${error.message}\n`);
    process.exit(2);
  }
}
