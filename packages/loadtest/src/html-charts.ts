import { type LineSeries, lineChart, PALETTE, percentileTicks, type ReferenceLine } from "@orderly/svg-charts";
import type { Distribution, LatencySummary } from "./latency.js";
import type { Report } from "./report.js";

// The HTML report's charts: per-second figures over the run, and the HDR percentile plot. `before` is the run given
// with `--compare`, drawn dashed and named `beforeLabel` in the legends.

const CHART_WIDTH = 1040;

/** A chart over the run's seconds (from 0 to the last reply), its y axis from 0. */
function overTime(
  r: Report,
  id: string,
  title: string,
  yLabel: string,
  series: LineSeries[],
  references: ReferenceLine[] = [],
): string {
  const x = { label: "seconds since start", min: 0, max: Math.max(1, ...r.series.end_s) };
  return lineChart({ id, title, width: CHART_WIDTH, x, y: { label: yLabel, min: 0 }, series, references });
}

/** The compared run's line: dashed, its legend naming the run. */
function overlay(
  name: string,
  beforeLabel: string,
  key: string,
  x: readonly number[],
  y: LineSeries["y"],
  color: string,
): LineSeries {
  return { name: `${name} (${beforeLabel})`, key, x, y, color, dashed: true };
}

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

/** Horizontal lines for the SLOs on the given metrics. */
function sloLines(r: Report, metrics: readonly string[]): ReferenceLine[] {
  return (r.slo?.checks ?? [])
    .filter((c) => metrics.includes(c.metric))
    .map((c) => ({ y: c.threshold, label: `SLO ${c.expr}`, color: c.passed ? PALETTE.grey : PALETTE.red }));
}

export function throughputChart(r: Report, before: Report | undefined, beforeLabel: string): string {
  const s = r.series;
  const x = s.end_s;
  const series: LineSeries[] = [];
  if (s.target) {
    const y = perSecond(r, s.target);
    series.push({
      name: "target (intended calls/s)",
      key: "target",
      x,
      y,
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
  if (s.ryw) {
    const y = perSecond(r, s.ryw.count);
    series.push({ name: "read-your-writes checks/s", key: "ryw", x, y, color: PALETTE.orange, width: 1.5 });
  }
  if (hasSeries(before)) {
    const y = perSecond(before, before.series.commands.count);
    series.push(overlay("completed calls/s", beforeLabel, "completed-before", before.series.end_s, y, PALETTE.sky));
  }
  return overTime(r, "throughput", "Calls per second", "calls/s", series);
}

export function latencyChart(r: Report, before: Report | undefined, beforeLabel: string): string {
  const s = r.series;
  const series: LineSeries[] = [
    { name: "command p50", key: "p50", x: s.end_s, y: s.commands.p50_ms, color: PALETTE.blue },
    { name: "command p99", key: "p99", x: s.end_s, y: s.commands.p99_ms, color: PALETTE.red },
    { name: "command max", key: "max", x: s.end_s, y: s.commands.max_ms, color: "#9ca3af", width: 1 },
  ];
  if (hasSeries(before)) {
    const b = before.series;
    series.push(
      overlay("p50", beforeLabel, "p50-before", b.end_s, b.commands.p50_ms, PALETTE.sky),
      overlay("p99", beforeLabel, "p99-before", b.end_s, b.commands.p99_ms, PALETTE.orange),
    );
  }
  const title = "Command latency per second (by reply time)";
  return overTime(r, "latency", title, "ms", series, sloLines(r, ["p50", "p99", "p90"]));
}

export function rywChart(r: Report, before: Report | undefined, beforeLabel: string): string {
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
    series.push(overlay("visible p99", beforeLabel, "ryw-p99-before", before.series.end_s, b.p99_ms, PALETTE.purple));
  }
  const title = "Command → visible (GetOrderSummary with min_position) per second";
  return overTime(r, "ryw", title, "ms", series, sloLines(r, ["ryw_p50", "ryw_p99"]));
}

export function serverLagChart(r: Report): string {
  const colors = [PALETTE.blue, PALETTE.orange, PALETTE.green, PALETTE.purple, PALETTE.sky, PALETTE.red];
  const series = Object.entries(r.series.server_lag_s ?? {}).map(([name, values], i) => ({
    name,
    key: `lag-${name}`,
    x: r.series.end_s,
    y: values,
    color: colors[i % colors.length] ?? PALETTE.grey,
  }));
  const title = "Largest lag reported by the services per second";
  return overTime(r, "server-lag", title, "seconds", series, sloLines(r, ["lag"]));
}

// ---- the percentile plot -----------------------------------------------------------------------------------------

/** x of a quantile on the percentile plot: 1/(1 − q), so 0 → 1, 0.9 → 10, 0.99 → 100. */
const quantileX = (q: number) => 1 / Math.max(1e-12, 1 - q);

const PERCENTILE_OF: Record<string, number> = { p50: 0.5, p90: 0.9, p99: 0.99, "p99.9": 0.999 };

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

/** The SLO latency limits as crosses at their percentile. */
function sloLimits(r: Report): LineSeries | undefined {
  const limits = (r.slo?.checks ?? []).flatMap((c) => {
    const q = PERCENTILE_OF[c.metric.replace(/^ryw_/, "")];
    return q === undefined || (c.op !== "<" && c.op !== "<=") ? [] : [{ x: quantileX(q), y: c.threshold }];
  });
  if (limits.length === 0) return undefined;
  const x = limits.map((l) => l.x);
  const y = limits.map((l) => l.y);
  return { name: "SLO limits", key: "slo", x, y, color: PALETTE.ink, line: false, marker: "cross" };
}

export function percentileChart(r: Report, before: Report | undefined, beforeLabel: string): string {
  const series: LineSeries[] = [];
  const add = (name: string, key: string, d: Distribution, color: string, dashed = false) => {
    if (d.quantile.length === 0) return;
    series.push({ name, key, x: d.quantile.map(quantileX), y: d.ms, color, dashed, markers: d.quantile.length <= 8 });
  };
  add("commands", "commands", distributionOf(r.latency_ms, r.distribution?.commands), PALETTE.blue);
  if (r.ryw)
    add("read-your-writes visibility", "ryw", distributionOf(r.ryw.latency_ms, r.distribution?.ryw), PALETTE.green);
  if (before) {
    const commands = distributionOf(before.latency_ms, before.distribution?.commands);
    add(`commands (${beforeLabel})`, "commands-before", commands, PALETTE.sky, true);
    if (before.ryw) {
      const ryw = distributionOf(before.ryw.latency_ms, before.distribution?.ryw);
      add(`read-your-writes visibility (${beforeLabel})`, "ryw-before", ryw, "#7fd1b9", true);
    }
  }
  const limits = sloLimits(r);
  if (limits) series.push(limits);
  const maxX = Math.max(100, ...series.flatMap((s) => s.x ?? []));
  return lineChart({
    id: "percentiles",
    title: "Latency by percentile",
    width: CHART_WIDTH,
    height: 360,
    x: {
      label: "percentile (log scale in 1 / (1 − quantile))",
      log: true,
      min: 1,
      max: maxX,
      ticks: percentileTicks(6),
    },
    y: { label: "ms", min: 0 },
    series,
  });
}
