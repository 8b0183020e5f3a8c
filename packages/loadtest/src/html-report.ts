import {
  escapeXml as esc,
  formatNumber,
  type LineSeries,
  lineChart,
  PALETTE,
  type ReferenceLine,
  type Tick,
} from "@orderly/svg-charts";
import type { Distribution, LatencySummary } from "./latency.js";
import type { CallKind } from "./mix.js";
import { fmtMs, type Report } from "./report.js";

export interface HtmlReportOptions {
  /** A previous run's `--json` report, drawn dashed over this one (before/after a change). */
  readonly compare?: Report;
  /** How the compared run is named in legends (default: "before"). */
  readonly compareLabel?: string;
}

const KINDS: readonly CallKind[] = ["create", "pay", "ship", "cancel", "duplicate", "conflict"];
const STATUS_COLORS: Record<string, string> = {
  OK: PALETTE.green,
  ABORTED: PALETTE.orange,
  DEADLINE_EXCEEDED: PALETTE.purple,
  UNAVAILABLE: PALETTE.red,
};
const CHART_WIDTH = 1040;

/**
 * The load report as one self-contained HTML page: inline SVG charts drawn by @orderly/svg-charts, inline CSS, no
 * script and a Content-Security-Policy that forbids every fetch, so it opens from a file, an e-mail or a CI artifact
 * exactly as it was written. The report's JSON travels inside (`<script type="application/json" id="report-data">`,
 * never executed) so the figures can be read back.
 */
export function renderHtmlReport(report: Report, options: HtmlReportOptions = {}): string {
  const before = options.compare;
  const beforeLabel = options.compareLabel ?? "before";
  const r = report;
  const o = r.options;
  const title = `Orderly load report: ${o.mode === "open" ? `open loop at ${formatNumber(o.rate ?? 0)}/s` : `closed loop, ${o.concurrency} in flight`}`;
  const body: string[] = [];
  body.push(
    `<header><div><h1>${esc(title)}</h1><p class="sub">${esc(o.address)} · started ${esc(r.started_at.replace("T", " ").replace(/\.\d+Z$/, " UTC"))} · ${esc(r.elapsed_s.toFixed(1))} s</p></div>${verdictBadge(r)}</header>`,
    `<p class="cmd"><code>${esc(r.command || "(command not recorded)")}</code></p>`,
  );
  if (before) {
    body.push(
      `<p class="compare-note">Dashed lines: <b>${esc(beforeLabel)}</b> — <code>${esc(before.command || "")}</code>, started ${esc(before.started_at)}.</p>`,
    );
  }
  body.push(tiles(r, before));
  body.push(section("Throughput and errors", throughputChart(r, before, beforeLabel)));
  body.push(section("Latency over time", latencyChart(r, before, beforeLabel)));
  body.push(
    section(
      "Latency percentiles",
      percentileChart(r, before, beforeLabel),
      "HDR percentile plot: the share of calls at or below each latency. The horizontal axis is logarithmic in 1/(1 − quantile), so the tail gets as much room as the median. Commands are timed from their intended send time in open loop; read-your-writes visibility from the command's reply to a query answer showing it.",
    ),
  );
  if (r.ryw) body.push(section("Read-your-writes over time", rywChart(r, before, beforeLabel)));
  const lag = r.series.server_lag_s;
  if (lag && Object.keys(lag).length > 0) {
    body.push(
      section(
        "Lag per read model",
        serverLagChart(r),
        "From the services' own /metrics (--metrics), sampled once a second: projection_lag_seconds per projection and outbox_lag_seconds, the age of the oldest committed event not yet applied or published.",
      ),
    );
  }
  body.push(section("Status codes by command kind", statusTable(r)));
  if (r.slo) body.push(section("SLO verdicts", sloTable(r)));
  if (before) body.push(section(`This run against ${beforeLabel}`, compareTable(r, before)));
  const details = [scheduleBlock(r), errorBlock(r), generatorBlock(r)].filter((s) => s !== "");
  if (details.length > 0) body.push(section("Schedule, errors and the generator", details.join("")));
  body.push(section("Options", optionsTable(r)));
  body.push(
    `<footer>Written by <code>orderly-loadtest</code> (schema ${r.schema_version}). The report's JSON is embedded in this file: <code>script#report-data</code>${before ? " and <code>script#compare-data</code>" : ""}.</footer>`,
  );
  const data = `<script type="application/json" id="report-data">${jsonForHtml(r)}</script>${before ? `<script type="application/json" id="compare-data">${jsonForHtml(before)}</script>` : ""}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body.join("\n")}
</main>
${data}
</body>
</html>
`;
}

// ---- charts ------------------------------------------------------------------------------------------------------

const secondsAxis = (r: Report) => ({ label: "seconds since start", min: 0, max: Math.max(1, ...r.series.end_s) });

/** Per-second counts as rates: the last interval may be shorter than a second. */
function perSecond(r: Report, counts: readonly number[]): number[] {
  const ends = r.series.end_s;
  return counts.map((c, i) => {
    const length = (ends[i] ?? i + 1) - (i === 0 ? 0 : (ends[i - 1] ?? i));
    return length > 0 ? Math.round((c / length) * 10) / 10 : c;
  });
}

function hasSeries(r: Report | undefined): r is Report {
  return r?.series !== undefined && Array.isArray(r.series.end_s);
}

function throughputChart(r: Report, before: Report | undefined, beforeLabel: string): string {
  const s = r.series;
  const x = s.end_s;
  const series: LineSeries[] = [];
  if (s.target) {
    series.push({
      name: "target (intended calls/s)",
      key: "target",
      x,
      y: perSecond(r, s.target),
      color: PALETTE.grey,
      dashed: true,
      width: 1.5,
    });
  }
  series.push({
    name: "completed calls/s",
    key: "completed",
    x,
    y: perSecond(r, s.commands.count),
    color: PALETTE.blue,
  });
  series.push({ name: "errors/s", key: "errors", x, y: perSecond(r, s.commands.errors), color: PALETTE.red });
  if (s.ryw)
    series.push({
      name: "read-your-writes checks/s",
      key: "ryw",
      x,
      y: perSecond(r, s.ryw.count),
      color: PALETTE.orange,
      width: 1.5,
    });
  if (hasSeries(before)) {
    series.push({
      name: `completed calls/s (${beforeLabel})`,
      key: "completed-before",
      x: before.series.end_s,
      y: perSecond(before, before.series.commands.count),
      color: PALETTE.sky,
      dashed: true,
    });
  }
  return lineChart({
    id: "throughput",
    title: "Calls per second",
    width: CHART_WIDTH,
    x: secondsAxis(r),
    y: { label: "calls/s", min: 0 },
    series,
  });
}

function latencyChart(r: Report, before: Report | undefined, beforeLabel: string): string {
  const s = r.series;
  const series: LineSeries[] = [
    { name: "command p50", key: "p50", x: s.end_s, y: s.commands.p50_ms, color: PALETTE.blue },
    { name: "command p99", key: "p99", x: s.end_s, y: s.commands.p99_ms, color: PALETTE.red },
    { name: "command max", key: "max", x: s.end_s, y: s.commands.max_ms, color: "#9ca3af", width: 1 },
  ];
  if (hasSeries(before)) {
    const b = before.series;
    series.push(
      {
        name: `p50 (${beforeLabel})`,
        key: "p50-before",
        x: b.end_s,
        y: b.commands.p50_ms,
        color: PALETTE.sky,
        dashed: true,
      },
      {
        name: `p99 (${beforeLabel})`,
        key: "p99-before",
        x: b.end_s,
        y: b.commands.p99_ms,
        color: PALETTE.orange,
        dashed: true,
      },
    );
  }
  return lineChart({
    id: "latency",
    title: "Command latency per second (by reply time)",
    width: CHART_WIDTH,
    x: secondsAxis(r),
    y: { label: "ms", min: 0 },
    series,
    references: sloLines(r, ["p50", "p99", "p90"]),
  });
}

function rywChart(r: Report, before: Report | undefined, beforeLabel: string): string {
  const y = r.series.ryw;
  if (!y) return "";
  const x = r.series.end_s;
  const series: LineSeries[] = [
    { name: "visible p50", key: "ryw-p50", x, y: y.p50_ms, color: PALETTE.green },
    { name: "visible p99", key: "ryw-p99", x, y: y.p99_ms, color: PALETTE.purple },
    {
      name: "largest lag reported (ms)",
      key: "lag",
      x,
      y: y.max_lag_s.map((v) => (v === null ? null : Math.round(v * 1e6) / 1000)),
      color: PALETTE.grey,
      width: 1.5,
    },
    { name: "failed checks/s", key: "ryw-failed", x, y: perSecond(r, y.errors), color: PALETTE.red, width: 1.5 },
  ];
  const b = hasSeries(before) ? before.series.ryw : null;
  if (hasSeries(before) && b) {
    series.push({
      name: `visible p99 (${beforeLabel})`,
      key: "ryw-p99-before",
      x: before.series.end_s,
      y: b.p99_ms,
      color: PALETTE.purple,
      dashed: true,
    });
  }
  return lineChart({
    id: "ryw",
    title: "Command → visible (GetOrderSummary with min_position) per second",
    width: CHART_WIDTH,
    x: secondsAxis(r),
    y: { label: "ms", min: 0 },
    series,
    references: sloLines(r, ["ryw_p50", "ryw_p99"]),
  });
}

function serverLagChart(r: Report): string {
  const colors = [PALETTE.blue, PALETTE.orange, PALETTE.green, PALETTE.purple, PALETTE.sky, PALETTE.red];
  const series = Object.entries(r.series.server_lag_s ?? {}).map(([name, values], i) => ({
    name,
    key: `lag-${name}`,
    x: r.series.end_s,
    y: values,
    color: colors[i % colors.length] ?? PALETTE.grey,
  }));
  return lineChart({
    id: "server-lag",
    title: "Largest lag reported by the services per second",
    width: CHART_WIDTH,
    x: secondsAxis(r),
    y: { label: "seconds", min: 0 },
    series,
    references: (r.slo?.checks ?? [])
      .filter((c) => c.metric === "lag")
      .map((c) => ({ y: c.threshold, label: `SLO ${c.expr}`, color: c.passed ? PALETTE.grey : PALETTE.red })),
  });
}

/** x of a quantile on the percentile plot: 1/(1 − q), so 0 → 1, 0.9 → 10, 0.99 → 100. */
const quantileX = (q: number) => 1 / Math.max(1e-12, 1 - q);

const PERCENTILE_TICKS: readonly Tick[] = [
  { value: 1, label: "0%" },
  { value: 2, label: "50%" },
  { value: 10, label: "90%" },
  { value: 100, label: "99%" },
  { value: 1_000, label: "99.9%" },
  { value: 10_000, label: "99.99%" },
  { value: 100_000, label: "99.999%" },
  { value: 1_000_000, label: "99.9999%" },
];

/** A report's distribution, or one made of its summary percentiles when it predates the distribution field. */
function distributionOf(summary: LatencySummary, d: Distribution | null | undefined): Distribution {
  if (d && d.quantile.length > 0) return d;
  if (summary.count === 0) return { quantile: [], ms: [] };
  const last = 1 - 1 / summary.count;
  const points: [number, number][] = [
    [0, summary.min],
    [0.5, summary.p50],
    [0.9, summary.p90],
    [0.99, summary.p99],
    [0.999, summary.p99_9],
  ];
  const kept = points.filter(([q]) => q < last);
  return { quantile: [...kept.map(([q]) => q), last], ms: [...kept.map(([, v]) => v), summary.max] };
}

function percentileChart(r: Report, before: Report | undefined, beforeLabel: string): string {
  const series: LineSeries[] = [];
  const add = (name: string, key: string, d: Distribution, color: string, dashed = false) => {
    if (d.quantile.length === 0) return;
    series.push({ name, key, x: d.quantile.map(quantileX), y: d.ms, color, dashed, markers: d.quantile.length <= 8 });
  };
  add("commands", "commands", distributionOf(r.latency_ms, r.distribution?.commands), PALETTE.blue);
  if (r.ryw)
    add("read-your-writes visibility", "ryw", distributionOf(r.ryw.latency_ms, r.distribution?.ryw), PALETTE.green);
  if (before) {
    add(
      `commands (${beforeLabel})`,
      "commands-before",
      distributionOf(before.latency_ms, before.distribution?.commands),
      PALETTE.sky,
      true,
    );
    if (before.ryw) {
      add(
        `read-your-writes visibility (${beforeLabel})`,
        "ryw-before",
        distributionOf(before.ryw.latency_ms, before.distribution?.ryw),
        "#7fd1b9",
        true,
      );
    }
  }
  // SLO latency limits as points at their percentile.
  const limits = (r.slo?.checks ?? []).flatMap((c) => {
    const q = PERCENTILE_OF[c.metric.replace(/^ryw_/, "")];
    return q === undefined || (c.op !== "<" && c.op !== "<=") ? [] : [{ x: quantileX(q), y: c.threshold }];
  });
  if (limits.length > 0) {
    series.push({
      name: "SLO limits",
      key: "slo",
      x: limits.map((l) => l.x),
      y: limits.map((l) => l.y),
      color: PALETTE.ink,
      line: false,
      marker: "cross",
    });
  }
  const maxX = Math.max(100, ...series.flatMap((s) => s.x ?? []));
  return lineChart({
    id: "percentiles",
    title: "Latency by percentile",
    width: CHART_WIDTH,
    height: 360,
    x: { label: "percentile (log scale in 1 / (1 − quantile))", log: true, min: 1, max: maxX, ticks: PERCENTILE_TICKS },
    y: { label: "ms", min: 0 },
    series,
  });
}

const PERCENTILE_OF: Record<string, number> = { p50: 0.5, p90: 0.9, p99: 0.99, "p99.9": 0.999 };

/** Horizontal lines for latency SLOs on the given metrics. */
function sloLines(r: Report, metrics: readonly string[]): ReferenceLine[] {
  return (r.slo?.checks ?? [])
    .filter((c) => metrics.includes(c.metric))
    .map((c) => ({ y: c.threshold, label: `SLO ${c.expr}`, color: c.passed ? PALETTE.grey : PALETTE.red }));
}

// ---- tables and tiles ----------------------------------------------------------------------------------------

function verdictBadge(r: Report): string {
  if (!r.slo) return `<span class="badge none">no SLO given</span>`;
  return r.slo.passed
    ? `<span class="badge ok" data-verdict="met">SLO met</span>`
    : `<span class="badge fail" data-verdict="missed">SLO missed</span>`;
}

function tiles(r: Report, before: Report | undefined): string {
  const tile = (label: string, value: string, was?: string, extra = "") =>
    `<div class="tile${extra}"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div>${was !== undefined ? `<div class="was">${esc(was)}</div>` : ""}</div>`;
  const delta = (now: number, then: number | undefined, fmt: (v: number) => string) => {
    if (then === undefined || !before) return undefined;
    const change = then === 0 ? "" : ` (${now >= then ? "+" : ""}${(((now - then) / then) * 100).toFixed(0)}%)`;
    return `was ${fmt(then)}${change}`;
  };
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  const out = [
    tile("calls", n(r.total), delta(r.total, before?.total, n)),
    tile(
      "calls/s",
      fmtRate(r.rps),
      delta(r.rps, before?.rps, fmtRate) ??
        (r.schedule ? `target ${formatNumber(r.schedule.target_rate)}/s` : undefined),
    ),
    tile("p50", fmtMs(r.latency_ms.p50), delta(r.latency_ms.p50, before?.latency_ms.p50, fmtMs)),
    tile("p99", fmtMs(r.latency_ms.p99), delta(r.latency_ms.p99, before?.latency_ms.p99, fmtMs)),
    tile("p99.9", fmtMs(r.latency_ms.p99_9), delta(r.latency_ms.p99_9, before?.latency_ms.p99_9, fmtMs)),
    tile("max", fmtMs(r.latency_ms.max), delta(r.latency_ms.max, before?.latency_ms.max, fmtMs)),
    tile(
      "errors",
      n(r.errors),
      delta(r.errors, before?.errors, n) ?? `${pct(r.error_rate)} of calls`,
      r.errors > 0 ? " bad" : "",
    ),
  ];
  if (r.ryw) {
    out.push(
      tile("visible p99", fmtMs(r.ryw.latency_ms.p99), delta(r.ryw.latency_ms.p99, before?.ryw?.latency_ms.p99, fmtMs)),
    );
  }
  out.push(
    tile(
      "generator",
      `${r.generator.cpu_percent.toFixed(0)}% CPU`,
      r.generator.saturated ? "saturated: see below" : "of one core",
      r.generator.saturated ? " bad" : "",
    ),
  );
  return `<section class="tiles">${out.join("")}</section>`;
}

function statusTable(r: Report): string {
  const rows = KINDS.map((k) => [k, r.by_kind[k]] as const).filter(([, k]) => k && k.count > 0);
  const ryw = r.ryw;
  const codes = new Set<string>(["OK"]);
  for (const [, k] of rows) for (const c of Object.keys(k.status_codes ?? {})) codes.add(c);
  for (const c of Object.keys(ryw?.status_codes ?? {})) codes.add(c);
  const names = [...codes].sort((a, b) => (a === "OK" ? -1 : b === "OK" ? 1 : a.localeCompare(b)));
  const head = `<tr><th>kind</th><th class="n">calls</th><th class="n">errors</th><th class="n">p50</th><th class="n">p99</th>${names.map((c) => `<th class="n">${esc(c)}</th>`).join("")}<th>share of replies</th></tr>`;
  const line = (
    label: string,
    count: number,
    errors: number,
    lat: LatencySummary,
    statuses: Readonly<Record<string, number>>,
  ) => {
    const bar = names
      .filter((c) => (statuses[c] ?? 0) > 0)
      .map(
        (c) =>
          `<span style="width:${(((statuses[c] ?? 0) / Math.max(1, count)) * 100).toFixed(2)}%;background:${STATUS_COLORS[c] ?? PALETTE.grey}" title="${esc(`${c}: ${statuses[c]}`)}"></span>`,
      )
      .join("");
    return `<tr data-kind="${esc(label)}"><td>${esc(label)}</td><td class="n">${count.toLocaleString("en-US")}</td><td class="n${errors > 0 ? " bad" : ""}">${errors.toLocaleString("en-US")}</td><td class="n">${fmtMs(lat.p50)}</td><td class="n">${fmtMs(lat.p99)}</td>${names.map((c) => `<td class="n" data-status="${esc(c)}">${statuses[c] ? statuses[c].toLocaleString("en-US") : "—"}</td>`).join("")}<td><div class="bar">${bar}</div></td></tr>`;
  };
  const body = rows.map(([kind, k]) => line(kind, k.count, k.errors, k.latency_ms, k.status_codes ?? {}));
  if (ryw) body.push(line("read-your-writes query", ryw.checks, ryw.failed, ryw.latency_ms, ryw.status_codes));
  const legend = names
    .map((c) => `<span class="key"><i style="background:${STATUS_COLORS[c] ?? PALETTE.grey}"></i>${esc(c)}</span>`)
    .join("");
  return `<table class="status">${head}${body.join("")}</table><p class="note">Errors are unexpected outcomes: a conflict is expected to be ABORTED, a duplicate to be OK and marked duplicate. p50/p99 of the read-your-writes row: command reply → visible. ${legend}</p>`;
}

function sloTable(r: Report): string {
  const rows = (r.slo?.checks ?? []).map((c) => {
    const actual =
      c.actual === undefined
        ? "not measured"
        : c.kind === "ratio"
          ? pct(c.actual)
          : c.metric === "lag"
            ? `${c.actual.toFixed(3)} s`
            : c.metric === "errors" || c.metric === "dropped" || c.metric === "rps"
              ? formatNumber(c.actual)
              : fmtMs(c.actual);
    return `<tr data-slo="${esc(c.expr)}" class="${c.passed ? "ok" : "fail"}"><td><code>${esc(c.expr)}</code></td><td class="n">${esc(actual)}</td><td>${c.passed ? "✓ met" : "✗ missed"}</td></tr>`;
  });
  return `<table class="slo"><tr><th>objective</th><th class="n">measured</th><th>verdict</th></tr>${rows.join("")}</table>`;
}

function compareTable(r: Report, b: Report): string {
  const rows: [string, number | undefined, number | undefined, (v: number) => string, "lower" | "higher"][] = [
    ["calls/s", r.rps, b.rps, fmtRate, "higher"],
    ["p50", r.latency_ms.p50, b.latency_ms.p50, fmtMs, "lower"],
    ["p90", r.latency_ms.p90, b.latency_ms.p90, fmtMs, "lower"],
    ["p99", r.latency_ms.p99, b.latency_ms.p99, fmtMs, "lower"],
    ["p99.9", r.latency_ms.p99_9, b.latency_ms.p99_9, fmtMs, "lower"],
    ["max", r.latency_ms.max, b.latency_ms.max, fmtMs, "lower"],
    ["error rate", r.error_rate, b.error_rate, pct, "lower"],
    ["visible p50", r.ryw?.latency_ms.p50, b.ryw?.latency_ms.p50, fmtMs, "lower"],
    ["visible p99", r.ryw?.latency_ms.p99, b.ryw?.latency_ms.p99, fmtMs, "lower"],
    ["generator µs per call", r.generator.cpu_per_call_us, b.generator.cpu_per_call_us, formatNumber, "lower"],
  ];
  const body = rows
    .filter(([, now, then]) => now !== undefined || then !== undefined)
    .map(([label, now, then, fmt, better]) => {
      let ratio = "—";
      let cls = "";
      if (now !== undefined && then !== undefined && then !== 0) {
        const q = now / then;
        ratio = `${q.toFixed(2)}×`;
        if (Math.abs(q - 1) >= 0.05) cls = (better === "lower" ? q < 1 : q > 1) ? "ok" : "fail";
      }
      return `<tr class="${cls}"><td>${esc(label)}</td><td class="n">${now === undefined ? "—" : esc(fmt(now))}</td><td class="n">${then === undefined ? "—" : esc(fmt(then))}</td><td class="n">${ratio}</td></tr>`;
    });
  return `<table class="compare"><tr><th>figure</th><th class="n">this run</th><th class="n">before</th><th class="n">ratio</th></tr>${body.join("")}</table><p class="note">Green: better by 5% or more; red: worse by 5% or more. Compare runs made at the same rate on the same machine.</p>`;
}

function scheduleBlock(r: Report): string {
  const s = r.schedule;
  if (!s) return "";
  return `<div class="block"><h3>Open-loop schedule</h3><p>Target ${formatNumber(s.target_rate)} calls/s: ${s.intended.toLocaleString("en-US")} intended, ${s.sent.toLocaleString("en-US")} sent, <span class="${s.late > 0 ? "warn" : ""}">${s.late.toLocaleString("en-US")} late</span> (more than ${s.late_threshold_ms} ms behind), <span class="${s.dropped > 0 ? "bad" : ""}">${s.dropped.toLocaleString("en-US")} dropped</span>. Send delay p99 ${fmtMs(s.send_delay_ms.p99)}, max ${fmtMs(s.send_delay_ms.max)}.</p></div>`;
}

function errorBlock(r: Report): string {
  const list = (items: readonly { message: string; count: number }[]) =>
    `<table class="errors">${items.map((e) => `<tr><td class="n">${e.count.toLocaleString("en-US")}</td><td><code>${esc(e.message)}</code></td></tr>`).join("")}</table>`;
  const parts: string[] = [];
  if (r.error_messages.length > 0) parts.push(`<h3>Most frequent errors</h3>${list(r.error_messages)}`);
  if (r.ryw && r.ryw.error_messages.length > 0) {
    parts.push(`<h3>Read-your-writes failures</h3>${list(r.ryw.error_messages)}`);
  }
  return parts.length > 0 ? `<div class="block">${parts.join("")}</div>` : "";
}

function generatorBlock(r: Report): string {
  const g = r.generator;
  const lag = r.ryw ? ` Largest read-model lag any answer reported: ${r.ryw.max_lag_seconds.toFixed(3)} s.` : "";
  return `<div class="block"><h3>Generator</h3><p>CPU ${g.cpu_percent.toFixed(1)}% of one core (user ${g.cpu_user_s.toFixed(2)} s, system ${g.cpu_system_s.toFixed(2)} s), ${formatNumber(g.cpu_per_call_us)} µs per call over ${g.calls.toLocaleString("en-US")} calls.${g.saturated ? ` <span class="bad">The generator may be the limit: ${esc(g.saturation_reasons.join("; "))}.</span>` : ""}${lag}</p></div>`;
}

function optionsTable(r: Report): string {
  const rows = Object.entries(r.options).map(([k, v]) => {
    const text =
      v === null
        ? "—"
        : typeof v === "object"
          ? Object.entries(v)
              .map(([a, b]) => `${a}=${b}`)
              .join(", ")
          : String(v);
    return `<tr><td><code>${esc(k)}</code></td><td>${esc(text)}</td></tr>`;
  });
  return `<table class="options">${rows.join("")}</table>`;
}

function section(title: string, content: string, note?: string): string {
  return `<section class="card"><h2>${esc(title)}</h2>${note ? `<p class="note">${esc(note)}</p>` : ""}${content}</section>`;
}

function fmtRate(perSecond: number): string {
  return perSecond.toLocaleString("en-US", { maximumFractionDigits: 1 });
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.001 ? 4 : 2)}%`;
}

/** JSON safe inside a script element: no `</script>`, no `<!--`. */
function jsonForHtml(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll("<", "\\u003c")
    .replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029");
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#1f2937;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 20px 40px}
header{display:flex;justify-content:space-between;align-items:flex-start;gap:16px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:16px;margin:0 0 8px}
h3{font-size:14px;margin:12px 0 6px}
.sub{margin:0;color:#4b5563}
.cmd{margin:8px 0 16px}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#e5e7eb;padding:1px 5px;border-radius:4px;word-break:break-all}
.badge{display:inline-block;padding:6px 14px;border-radius:999px;font-weight:600;white-space:nowrap}
.badge.ok{background:#d1fae5;color:#065f46}
.badge.fail{background:#fee2e2;color:#991b1b}
.badge.none{background:#e5e7eb;color:#374151}
.compare-note{background:#eff6ff;border:1px solid #bfdbfe;border-radius:6px;padding:8px 12px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(108px,1fr));gap:10px;margin:0 0 16px}
.tile{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.tile .label{color:#6b7280;font-size:11.5px;text-transform:uppercase;letter-spacing:.04em;white-space:nowrap}
.tile .value{font-size:19px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.tile .was{color:#6b7280;font-size:12px}
.tile.bad .value{color:#b91c1c}
.card{background:#fff;border-radius:8px;padding:16px 18px;margin:0 0 16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card svg{display:block;width:100%;height:auto}
.note{color:#4b5563;font-size:12.5px;margin:0 0 8px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{font-size:12px;color:#4b5563;font-weight:600}
.n{text-align:right}
tr.ok td:last-child{color:#047857;font-weight:600}
tr.fail td:last-child{color:#b91c1c;font-weight:600}
.compare tr.ok td:last-child,.compare tr.fail td:last-child{font-weight:600}
.bad{color:#b91c1c;font-weight:600}
.warn{color:#b45309}
.bar{display:flex;height:12px;min-width:140px;background:#f3f4f6;border-radius:3px;overflow:hidden}
.bar span{display:block;height:100%}
.key{display:inline-flex;align-items:center;gap:4px;margin-left:12px}
.key i{display:inline-block;width:10px;height:10px;border-radius:2px}
.options td:first-child{width:30%}
footer{color:#6b7280;font-size:12px;margin-top:8px}
`;
