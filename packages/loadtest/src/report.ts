import type { Distribution, LatencySummary } from "./latency.js";
import type { CallKind } from "./mix.js";
import type { LoadOptions } from "./run.js";
import { describeSecurity, type SecurityReport } from "./security.js";
import type { IntervalSeries } from "./series.js";
import { evaluateSlo, type SloResult } from "./slo.js";

/**
 * The machine-readable result of a run (`--json`). Field names are stable: add fields, never rename or remove them
 * (bump `schema_version` if a meaning ever changes). Documented in the package README.
 */
export interface Report {
  readonly tool: "orderly-loadtest";
  readonly schema_version: 1;
  /** The command line that produced the report. */
  readonly command: string;
  readonly started_at: string;
  readonly options: ReportOptions;
  /** Seconds from the first send to the last reply. */
  readonly elapsed_s: number;
  /** Command calls completed (any status). */
  readonly total: number;
  /** Calls that got the expected outcome. */
  readonly ok: number;
  /** Completed command calls per second. */
  readonly rps: number;
  /** Command latency: from the intended send time (open loop) or the actual send (closed loop) to the reply. */
  readonly latency_ms: LatencySummary;
  /** Replies by gRPC status name (`OK`, `ABORTED`, …). */
  readonly status_codes: Readonly<Record<string, number>>;
  readonly by_kind: Readonly<Record<CallKind, KindReport>>;
  /** Calls whose outcome was not the expected one (see README). */
  readonly errors: number;
  readonly error_rate: number;
  /** The most frequent error messages (ids masked), most frequent first. */
  readonly error_messages: readonly { readonly message: string; readonly count: number }[];
  /** Open loop only (null in a closed-loop run). */
  readonly schedule: ScheduleReport | null;
  /** Read-your-writes checks (null when `--ryw-rate` is 0). */
  readonly ryw: RywReport | null;
  readonly generator: GeneratorReport;
  /** Null when no `--slo` was given. */
  readonly slo: { readonly passed: boolean; readonly checks: readonly SloResult[] } | null;
  /** Per-second figures over the run (what the HTML report draws over time). */
  readonly series: SeriesReport;
  /** The whole run's latency percentile distributions (the HDR percentile plot). */
  readonly distribution: {
    readonly commands: Distribution;
    /** Command-to-visible latency of passed read-your-writes checks; null without `--ryw-rate`. */
    readonly ryw: Distribution | null;
  };
}

export interface SeriesReport {
  readonly interval_s: 1;
  /** End of each interval in seconds from the start; the last one ends at the last reply (it may be shorter). */
  readonly end_s: number[];
  /** Command replies by the second they arrived in. */
  readonly commands: IntervalSeries;
  /** Open loop: the calls the schedule intended in each interval (the target rate); null in a closed loop. */
  readonly target: number[] | null;
  /** Read-your-writes answers by the second they arrived in; `max_lag_s`: largest lag an answer reported. */
  readonly ryw: (IntervalSeries & { readonly max_lag_s: (number | null)[] }) | null;
  /**
   * With `--metrics`: the largest lag each service reported per interval (`projection_lag_seconds` by projection,
   * `outbox_lag_seconds` as "outbox relay"), seconds; null without `--metrics`.
   */
  readonly server_lag_s?: Readonly<Record<string, (number | null)[]>> | null;
}

export interface ReportOptions {
  readonly mode: "open" | "closed";
  readonly address: string;
  readonly rate: number | null;
  readonly concurrency: number | null;
  readonly duration_s: number | null;
  readonly count: number | null;
  readonly timeout_ms: number;
  /** Whether the timeout travelled as a gRPC deadline (else the generator cancelled late calls itself). */
  readonly grpc_deadline: boolean;
  readonly max_in_flight: number | null;
  readonly connections: number;
  readonly mix: Readonly<Record<"create" | "pay" | "ship" | "cancel", number>>;
  readonly duplicate_rate: number;
  readonly conflict_rate: number;
  readonly ryw_rate: number;
  readonly query_address: string | null;
  readonly seed: number;
  /** TLS, client certificate, server name override, token source (added in issue 15; absent in older reports). */
  readonly security?: SecurityReport;
}

export interface KindReport {
  readonly count: number;
  readonly errors: number;
  readonly latency_ms: LatencySummary;
  /** Replies by gRPC status name. */
  readonly status_codes: Readonly<Record<string, number>>;
}

export interface ScheduleReport {
  readonly target_rate: number;
  /** Calls the schedule intended to make (up to the stop, when the run was stopped early). */
  readonly intended: number;
  readonly sent: number;
  /** Sent more than `late_threshold_ms` after the intended time (in-flight cap reached, or generator behind). */
  readonly late: number;
  /** Never sent: still waiting for an in-flight slot when the duration ended. */
  readonly dropped: number;
  readonly late_threshold_ms: number;
  /** Actual minus intended send time. */
  readonly send_delay_ms: LatencySummary;
}

export interface RywReport {
  readonly checks: number;
  /** The query answered OK and showed the command's effect (summary version ≥ the command's stream version). */
  readonly ok: number;
  readonly failed: number;
  readonly status_codes: Readonly<Record<string, number>>;
  /** Command reply received → GetOrderSummary(min_position) answered with the new state. */
  readonly latency_ms: LatencySummary;
  /** Largest `consistency.lag_seconds` any answer reported. */
  readonly max_lag_seconds: number;
  readonly error_messages: readonly { readonly message: string; readonly count: number }[];
}

export interface GeneratorReport {
  readonly cpu_user_s: number;
  readonly cpu_system_s: number;
  /** CPU time / wall time, in % of one core. Near 100 %, the generator (single-threaded) is the limit. */
  readonly cpu_percent: number;
  /** Generator CPU per gRPC call made (commands and queries), microseconds. */
  readonly cpu_per_call_us: number;
  readonly calls: number;
  /** True when the generator was likely the bottleneck (CPU ≥ 90 % of a core, or sends fell behind schedule). */
  readonly saturated: boolean;
  readonly saturation_reasons: readonly string[];
}

const KIND_ORDER: readonly CallKind[] = ["create", "pay", "ship", "cancel", "duplicate", "conflict"];

/** The human report (ghz-like), printed after the run. */
/** What a run counted (gathered by run.ts's \`Run\`), from which \`buildReport\` derives the report. */
export interface RunTally {
  readonly options: LoadOptions;
  readonly startedAt: Date;
  readonly cpu: NodeJS.CpuUsage;
  readonly wallMs: number;
  /** From the first send to the last reply (at least 1). */
  readonly elapsedMs: number;
  readonly series: SeriesReport;
  readonly completed: number;
  readonly errors: number;
  readonly latency: LatencySummary;
  readonly latencyDistribution: Distribution;
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly byKind: Readonly<Record<CallKind, KindReport>>;
  readonly errorMessages: readonly { readonly message: string; readonly count: number }[];
  /** Open loop only. */
  readonly schedule:
    | {
        readonly rate: number;
        /** Sends the schedule intended (those cut short by the end of the run not counted). */
        readonly intended: number;
        readonly late: number;
        readonly dropped: number;
        readonly lateThresholdMs: number;
        readonly sendDelay: LatencySummary;
      }
    | undefined;
  readonly ryw: {
    readonly checks: number;
    readonly ok: number;
    readonly statusCodes: Readonly<Record<string, number>>;
    readonly latency: LatencySummary;
    readonly distribution: () => Distribution;
    readonly maxLagSeconds: number;
    readonly errorMessages: readonly { readonly message: string; readonly count: number }[];
  };
}

/** The report of a run: its figures, the generator's own saturation, and the SLO verdicts (\`--slo\`). */
export function buildReport(t: RunTally): Report {
  const calls = t.completed + t.ryw.checks;
  const rps = (t.completed * 1000) / t.elapsedMs;
  const schedule = scheduleReport(t);
  const ryw = rywReport(t);
  const base = {
    tool: "orderly-loadtest" as const,
    schema_version: 1 as const,
    command: t.options.command ?? "",
    started_at: t.startedAt.toISOString(),
    options: reportOptions(t.options),
    elapsed_s: round(t.elapsedMs / 1000, 3),
    total: t.completed,
    ok: t.completed - t.errors,
    rps: round(rps, 1),
    latency_ms: t.latency,
    status_codes: t.statusCodes,
    by_kind: t.byKind,
    errors: t.errors,
    error_rate: t.completed === 0 ? 0 : round(t.errors / t.completed, 6),
    error_messages: t.errorMessages,
    schedule,
    ryw,
    generator: generatorReport(t, calls, schedule),
    series: t.series,
    distribution: { commands: t.latencyDistribution, ryw: ryw ? t.ryw.distribution() : null },
  };
  if (t.options.slo.length === 0) return { ...base, slo: null };
  const checks = evaluateSlo(t.options.slo, {
    latencyMs: {
      p50: t.latency.p50,
      p90: t.latency.p90,
      p99: t.latency.p99,
      "p99.9": t.latency.p99_9,
      max: t.latency.max,
      mean: t.latency.mean,
    },
    rywLatencyMs:
      ryw && ryw.ok > 0
        ? {
            p50: ryw.latency_ms.p50,
            p90: ryw.latency_ms.p90,
            p99: ryw.latency_ms.p99,
            "p99.9": ryw.latency_ms.p99_9,
            max: ryw.latency_ms.max,
          }
        : undefined,
    calls,
    errors: t.errors + (ryw?.failed ?? 0),
    intended: schedule?.intended ?? t.completed,
    dropped: schedule?.dropped ?? 0,
    rps,
    maxLagSeconds: ryw && ryw.checks > 0 ? ryw.max_lag_seconds : undefined,
  });
  return { ...base, slo: { passed: checks.every((c) => c.passed), checks } };
}

function reportOptions(o: LoadOptions): ReportOptions {
  return {
    mode: o.mode,
    address: o.address,
    rate: o.mode === "open" ? (o.rate ?? null) : null,
    concurrency: o.mode === "closed" ? (o.concurrency ?? 1) : null,
    duration_s: o.durationMs !== undefined ? o.durationMs / 1000 : null,
    count: o.count ?? null,
    timeout_ms: o.timeoutMs,
    grpc_deadline: o.grpcDeadline === true,
    max_in_flight: o.mode === "open" ? o.maxInFlight : null,
    connections: o.connections,
    mix: { ...o.mix.weights },
    duplicate_rate: o.mix.duplicateRate,
    conflict_rate: o.mix.conflictRate,
    ryw_rate: o.rywRate,
    query_address: o.queryAddress ?? null,
    seed: o.seed,
    security: describeSecurity(o.security),
  };
}

function scheduleReport(t: RunTally): ScheduleReport | null {
  const s = t.schedule;
  if (!s) return null;
  return {
    target_rate: s.rate,
    intended: s.intended,
    sent: s.intended - s.dropped,
    late: s.late,
    dropped: s.dropped,
    late_threshold_ms: s.lateThresholdMs,
    send_delay_ms: s.sendDelay,
  };
}

function rywReport(t: RunTally): RywReport | null {
  const r = t.ryw;
  if (r.checks === 0 && t.options.rywRate <= 0) return null;
  return {
    checks: r.checks,
    ok: r.ok,
    failed: r.checks - r.ok,
    status_codes: r.statusCodes,
    latency_ms: r.latency,
    max_lag_seconds: r.maxLagSeconds,
    error_messages: r.errorMessages,
  };
}

function generatorReport(t: RunTally, calls: number, schedule: ScheduleReport | null): GeneratorReport {
  const cpuUs = t.cpu.user + t.cpu.system;
  const cpuPercent = (cpuUs / 1000 / t.wallMs) * 100;
  const reasons: string[] = [];
  if (cpuPercent >= 90) reasons.push(`generator CPU ${cpuPercent.toFixed(0)}% of one core`);
  if (schedule && schedule.sent > 0 && schedule.send_delay_ms.p99 > 10) {
    reasons.push(`sends fell behind schedule (send delay p99 ${schedule.send_delay_ms.p99} ms)`);
  }
  return {
    cpu_user_s: round(t.cpu.user / 1e6, 3),
    cpu_system_s: round(t.cpu.system / 1e6, 3),
    cpu_percent: round(cpuPercent, 1),
    cpu_per_call_us: calls === 0 ? 0 : round(cpuUs / calls, 1),
    calls,
    saturated: reasons.length > 0,
    saturation_reasons: reasons,
  };
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** ` (TLS, mTLS, bearer token from file)` or nothing for plaintext without a token (and for older reports). */
function securityLabel(s: SecurityReport | undefined): string {
  if (!s || (!s.tls && s.token === null)) return "";
  const parts: string[] = [];
  if (s.tls) parts.push(s.client_certificate ? "TLS, mTLS" : "TLS");
  if (s.server_name) parts.push(`server name ${s.server_name}`);
  if (s.token !== null) parts.push(`bearer token from ${s.token}`);
  return ` (${parts.join(", ")})`;
}

export function formatText(r: Report): string {
  const lines: string[] = [];
  const o = r.options;
  const mode =
    o.mode === "open"
      ? `open loop at ${fmtInt(o.rate ?? 0)} calls/s (latency from intended send time)`
      : `closed loop, ${o.concurrency} concurrent`;
  lines.push("Summary:");
  lines.push(`  Target:        ${o.address}${securityLabel(o.security)}`);
  lines.push(`  Mode:          ${mode}`);
  lines.push(`  Count:         ${fmtInt(r.total)}`);
  lines.push(`  Total:         ${r.elapsed_s.toFixed(2)} s`);
  lines.push(`  Slowest:       ${fmtMs(r.latency_ms.max)}`);
  lines.push(`  Fastest:       ${fmtMs(r.latency_ms.min)}`);
  lines.push(`  Average:       ${fmtMs(r.latency_ms.mean)}`);
  lines.push(`  Requests/sec:  ${r.rps.toFixed(1)}`);
  lines.push("");
  lines.push("Latency distribution:");
  for (const [label, value] of latencyRows(r.latency_ms)) lines.push(`  ${label.padEnd(6)} ${fmtMs(value)}`);
  lines.push("");
  lines.push("By command:");
  lines.push(
    `  ${"kind".padEnd(10)} ${"count".padStart(9)} ${"errors".padStart(7)} ${"p50".padStart(10)} ${"p99".padStart(10)}`,
  );
  for (const kind of KIND_ORDER) {
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
  lines.push("");
  lines.push(`Errors: ${fmtInt(r.errors)} (${fmtPct(r.error_rate)})`);
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
  const g = r.generator;
  lines.push("");
  lines.push(
    `Generator: CPU ${g.cpu_percent.toFixed(1)}% of one core (user ${g.cpu_user_s.toFixed(2)} s, system ${g.cpu_system_s.toFixed(2)} s), ${g.cpu_per_call_us.toFixed(1)} µs per call`,
  );
  if (g.saturated) lines.push(`  WARNING: the generator may be the limit here: ${g.saturation_reasons.join("; ")}`);
  if (r.slo) {
    lines.push("");
    lines.push(`SLO: ${r.slo.passed ? "met" : "MISSED"}`);
    for (const c of r.slo.checks) {
      lines.push(`  ${c.passed ? "ok  " : "FAIL"} ${c.expr.padEnd(18)} actual ${formatSloActual(c)}`);
    }
  }
  return `${lines.join("\n")}\n`;
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

function fmtPct(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.001 ? 4 : 2)}%`;
}
