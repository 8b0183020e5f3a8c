import type { LatencySummary } from "./latency.js";
import { CALL_KINDS } from "./mix.js";
import type { Report } from "./report.js";
import type { SecurityReport } from "./security.js";
import type { SloResult } from "./slo.js";

// The report for people: the ghz-like text printed after a run, and the progress line while it runs.

/** ` (TLS, mTLS, bearer token from file)` or nothing for plaintext without a token (and for older reports). */
function securityLabel(s: SecurityReport | undefined): string {
  if (!s || (!s.tls && s.token === null)) return "";
  const parts: string[] = [];
  if (s.tls) parts.push(s.client_certificate ? "TLS, mTLS" : "TLS");
  if (s.server_name) parts.push(`server name ${s.server_name}`);
  if (s.token !== null) parts.push(`bearer token from ${s.token}`);
  return ` (${parts.join(", ")})`;
}

/** The human report (ghz-like), printed after the run. */
export function formatText(r: Report): string {
  const lines = [...summaryLines(r), "", ...kindLines(r), "", ...outcomeLines(r), "", ...generatorLines(r)];
  return `${lines.join("\n")}\n`;
}

function summaryLines(r: Report): string[] {
  const o = r.options;
  const mode =
    o.mode === "open"
      ? `open loop at ${fmtInt(o.rate ?? 0)} calls/s (latency from intended send time)`
      : `closed loop, ${o.concurrency} concurrent`;
  return [
    "Summary:",
    `  Target:        ${o.address}${securityLabel(o.security)}`,
    `  Mode:          ${mode}`,
    `  Count:         ${fmtInt(r.total)}`,
    `  Total:         ${r.elapsed_s.toFixed(2)} s`,
    `  Slowest:       ${fmtMs(r.latency_ms.max)}`,
    `  Fastest:       ${fmtMs(r.latency_ms.min)}`,
    `  Average:       ${fmtMs(r.latency_ms.mean)}`,
    `  Requests/sec:  ${r.rps.toFixed(1)}`,
    "",
    "Latency distribution:",
    ...latencyRows(r.latency_ms).map(([label, value]) => `  ${label.padEnd(6)} ${fmtMs(value)}`),
  ];
}

/** Calls, errors and latency by command kind, then replies by status. */
function kindLines(r: Report): string[] {
  const lines = [
    "By command:",
    `  ${"kind".padEnd(10)} ${"count".padStart(9)} ${"errors".padStart(7)} ${"p50".padStart(10)} ${"p99".padStart(10)}`,
  ];
  for (const kind of CALL_KINDS) {
    const k = r.by_kind[kind];
    if (k.count === 0) continue;
    lines.push(
      `  ${kind.padEnd(10)} ${fmtInt(k.count).padStart(9)} ${fmtInt(k.errors).padStart(7)} ${fmtMs(k.latency_ms.p50).padStart(10)} ${fmtMs(k.latency_ms.p99).padStart(10)}`,
    );
  }
  lines.push("");
  lines.push("Status code distribution:");
  for (const [name, count] of sortedEntries(r.status_codes)) {
    lines.push(`${`  [${name}]`.padEnd(24)}${fmtInt(count)} responses`);
  }
  return lines;
}

/** Errors, the open-loop schedule, read-your-writes. */
function outcomeLines(r: Report): string[] {
  const lines = [`Errors: ${fmtInt(r.errors)} (${fmtPct(r.error_rate)})`];
  for (const e of r.error_messages) lines.push(`  [${fmtInt(e.count)}]  ${e.message}`);
  if (r.schedule) {
    const s = r.schedule;
    lines.push("");
    lines.push(
      `Schedule: intended ${fmtInt(s.intended)}, sent ${fmtInt(s.sent)}, late ${fmtInt(s.late)} (> ${s.late_threshold_ms} ms), dropped ${fmtInt(s.dropped)}; send delay p99 ${fmtMs(s.send_delay_ms.p99)}, max ${fmtMs(s.send_delay_ms.max)}`,
    );
  }
  if (r.ryw) {
    const y = r.ryw;
    lines.push("");
    lines.push(`Read-your-writes: ${fmtInt(y.checks)} checks, ${fmtInt(y.ok)} ok, ${fmtInt(y.failed)} failed`);
    lines.push(
      `  command-to-visible p50 ${fmtMs(y.latency_ms.p50)}, p90 ${fmtMs(y.latency_ms.p90)}, p99 ${fmtMs(y.latency_ms.p99)}, p99.9 ${fmtMs(y.latency_ms.p99_9)}, max ${fmtMs(y.latency_ms.max)}; max lag seen ${y.max_lag_seconds.toFixed(3)} s`,
    );
    for (const e of y.error_messages) lines.push(`  [${fmtInt(e.count)}]  ${e.message}`);
  }
  return lines;
}

/** The generator's own CPU, then the SLO verdicts. */
function generatorLines(r: Report): string[] {
  const g = r.generator;
  const lines = [
    `Generator: CPU ${g.cpu_percent.toFixed(1)}% of one core (user ${g.cpu_user_s.toFixed(2)} s, system ${g.cpu_system_s.toFixed(2)} s), ${g.cpu_per_call_us.toFixed(1)} µs per call`,
  ];
  if (g.saturated) lines.push(`  WARNING: the generator may be the limit here: ${g.saturation_reasons.join("; ")}`);
  if (r.slo) {
    lines.push("");
    lines.push(`SLO: ${r.slo.passed ? "met" : "MISSED"}`);
    for (const c of r.slo.checks) {
      lines.push(`  ${c.passed ? "ok  " : "FAIL"} ${c.expr.padEnd(18)} actual ${formatSloActual(c)}`);
    }
  }
  return lines;
}

function formatSloActual(c: SloResult): string {
  if (c.actual === undefined) return "not measured";
  if (c.kind === "ratio") return fmtPct(c.actual);
  if (c.metric === "errors" || c.metric === "dropped") return fmtInt(c.actual);
  if (c.metric === "rps") return c.actual.toFixed(1);
  if (c.metric === "lag") return `${c.actual.toFixed(3)} s`;
  return fmtMs(c.actual);
}

export interface ProgressState {
  readonly elapsedMs: number;
  /** 0..1, or undefined when unknown. */
  readonly fraction: number;
  readonly completed: number;
  readonly inFlight: number;
  readonly errors: number;
  readonly rps: number;
}

/** One progress line (no newline): `[=====>    ]  45%  12.3 s  4,981 rps  in flight 12  errors 0`. */
export function formatProgress(p: ProgressState, width = 30): string {
  const fraction = Math.min(1, Math.max(0, p.fraction));
  const filled = Math.floor(fraction * width);
  const bar = `${"=".repeat(filled)}${filled < width ? ">" : ""}${" ".repeat(Math.max(0, width - filled - 1))}`;
  return `[${bar}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${(p.elapsedMs / 1000).toFixed(1)} s  ${fmtInt(
    Math.round(p.rps),
  )} rps  ${fmtInt(p.completed)} done  in flight ${fmtInt(p.inFlight)}  errors ${fmtInt(p.errors)}`;
}

function latencyRows(l: LatencySummary): [string, number][] {
  return [
    ["p50", l.p50],
    ["p90", l.p90],
    ["p99", l.p99],
    ["p99.9", l.p99_9],
    ["max", l.max],
  ];
}

function sortedEntries(record: Readonly<Record<string, number>>): [string, number][] {
  return Object.entries(record).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export function fmtMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function fmtPct(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.001 ? 4 : 2)}%`;
}
