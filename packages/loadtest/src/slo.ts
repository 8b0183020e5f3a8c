/**
 * Service-level objectives given on the command line, e.g. `p99<25ms,errors<0.1%,rps>=1000`.
 *
 * Metrics: latency percentiles `p50 p90 p99 p99.9 max mean` (of command latency) and `ryw_p50 ryw_p99 ryw_max`
 * (command-to-visible latency), each with a unit `us|ms|s` (ms when none); `errors` and `dropped` as a percentage
 * of calls (`%`) or an absolute count (no unit); `rps` and `lag` (max read-model lag seen, seconds unless a unit).
 */

export type SloOperator = "<" | "<=" | ">" | ">=";

export type SloMetric =
  | "p50"
  | "p90"
  | "p99"
  | "p99.9"
  | "max"
  | "mean"
  | "ryw_p50"
  | "ryw_p90"
  | "ryw_p99"
  | "ryw_p99.9"
  | "ryw_max"
  | "errors"
  | "dropped"
  | "rps"
  | "lag";

export interface SloCheck {
  /** The text as given, e.g. `p99<25ms`. */
  readonly expr: string;
  readonly metric: SloMetric;
  readonly op: SloOperator;
  /** Threshold in the metric's base unit: milliseconds for latencies, a ratio 0..1 for `%`, seconds for lag. */
  readonly threshold: number;
  /** `ratio` when given as a percentage (errors, dropped), else `absolute`. */
  readonly kind: "ratio" | "absolute";
}

/** The figures an SLO is checked against (all latencies in milliseconds). */
export interface SloFigures {
  readonly latencyMs: Readonly<Record<"p50" | "p90" | "p99" | "p99.9" | "max" | "mean", number>>;
  readonly rywLatencyMs: Readonly<Record<"p50" | "p90" | "p99" | "p99.9" | "max", number>> | undefined;
  readonly calls: number;
  readonly errors: number;
  readonly intended: number;
  readonly dropped: number;
  readonly rps: number;
  readonly maxLagSeconds: number | undefined;
}

export interface SloResult extends SloCheck {
  /** The measured value in the threshold's unit (undefined when the run did not measure it). */
  readonly actual: number | undefined;
  readonly passed: boolean;
}

const LATENCY_METRICS = new Set(["p50", "p90", "p99", "p99.9", "max", "mean"]);
const RYW_METRICS = new Set(["ryw_p50", "ryw_p90", "ryw_p99", "ryw_p99.9", "ryw_max"]);
const COUNT_METRICS = new Set(["errors", "dropped"]);
const PATTERN = /^\s*([a-z_]+(?:\d+(?:\.\d+)?)?)\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|%)?\s*$/;
const ALIASES: Record<string, string> = { "p99.9": "p99.9", p999: "p99.9", ryw_p999: "ryw_p99.9", error: "errors" };

/** Parses a comma-separated SLO list; throws an Error naming the bad part. */
export function parseSlo(text: string): SloCheck[] {
  const checks: SloCheck[] = [];
  for (const part of text.split(",")) {
    if (part.trim() === "") continue;
    const match = PATTERN.exec(part);
    if (!match) throw new Error(`bad SLO "${part.trim()}": expected <metric><op><number><unit>, e.g. p99<25ms`);
    const [, rawMetric = "", op = "<", rawValue = "0", unit] = match;
    const metric = ALIASES[rawMetric] ?? rawMetric;
    const value = Number(rawValue);
    const expr = part.trim();
    if (LATENCY_METRICS.has(metric) || RYW_METRICS.has(metric)) {
      if (unit === "%") throw new Error(`bad SLO "${expr}": a latency needs a time unit (us, ms, s)`);
      checks.push({
        expr,
        metric: metric as SloMetric,
        op: op as SloOperator,
        threshold: toMs(value, unit),
        kind: "absolute",
      });
    } else if (COUNT_METRICS.has(metric)) {
      if (unit !== undefined && unit !== "%")
        throw new Error(`bad SLO "${expr}": ${metric} is a count or a percentage`);
      const kind = unit === "%" ? "ratio" : "absolute";
      checks.push({
        expr,
        metric: metric as SloMetric,
        op: op as SloOperator,
        threshold: kind === "ratio" ? value / 100 : value,
        kind,
      });
    } else if (metric === "rps") {
      if (unit !== undefined) throw new Error(`bad SLO "${expr}": rps takes no unit`);
      checks.push({ expr, metric, op: op as SloOperator, threshold: value, kind: "absolute" });
    } else if (metric === "lag") {
      if (unit === "%") throw new Error(`bad SLO "${expr}": lag needs a time unit`);
      checks.push({
        expr,
        metric,
        op: op as SloOperator,
        threshold: toMs(value, unit ?? "s") / 1000,
        kind: "absolute",
      });
    } else {
      throw new Error(
        `bad SLO "${expr}": unknown metric "${rawMetric}" (p50 p90 p99 p99.9 max mean ryw_p50 ryw_p99 ryw_max errors dropped rps lag)`,
      );
    }
  }
  return checks;
}

function toMs(value: number, unit: string | undefined): number {
  switch (unit) {
    case "us":
    case "µs":
      return value / 1000;
    case "s":
      return value * 1000;
    default:
      return value;
  }
}

/** Evaluates each check; a figure the run did not measure (no RYW checks, no lag seen) fails its check. */
export function evaluateSlo(checks: readonly SloCheck[], figures: SloFigures): SloResult[] {
  return checks.map((check) => {
    const actual = actualValue(check, figures);
    const passed = actual !== undefined && compare(actual, check.op, check.threshold);
    return { ...check, actual, passed };
  });
}

function actualValue(check: SloCheck, f: SloFigures): number | undefined {
  const m = check.metric;
  if (LATENCY_METRICS.has(m)) return f.latencyMs[m as keyof SloFigures["latencyMs"]];
  if (RYW_METRICS.has(m)) {
    if (!f.rywLatencyMs) return undefined;
    return f.rywLatencyMs[m.slice(4) as keyof NonNullable<SloFigures["rywLatencyMs"]>];
  }
  switch (m) {
    case "errors":
      return check.kind === "ratio" ? (f.calls === 0 ? 0 : f.errors / f.calls) : f.errors;
    case "dropped":
      return check.kind === "ratio" ? (f.intended === 0 ? 0 : f.dropped / f.intended) : f.dropped;
    case "rps":
      return f.rps;
    case "lag":
      return f.maxLagSeconds;
    default:
      return undefined;
  }
}

function compare(actual: number, op: SloOperator, threshold: number): boolean {
  switch (op) {
    case "<":
      return actual < threshold;
    case "<=":
      return actual <= threshold;
    case ">":
      return actual > threshold;
    case ">=":
      return actual >= threshold;
  }
}
