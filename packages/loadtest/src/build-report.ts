import type { Distribution, LatencySummary } from "./latency.js";
import type { LoadOptions } from "./load-options.js";
import type { GeneratorReport, Report, ReportOptions, RywReport, ScheduleReport, SeriesReport } from "./report.js";
import { describeSecurity } from "./security.js";
import { evaluateSlo, type SloFigures } from "./slo.js";

/** The command figures a run hands over as the report carries them. */
export type CommandFigures = Pick<
  Report,
  "total" | "errors" | "latency_ms" | "status_codes" | "by_kind" | "error_messages"
>;

/** What a run counted (gathered by run.ts's `Run`), from which `buildReport` derives the report. */
export interface RunTally {
  readonly options: LoadOptions;
  readonly startedAt: Date;
  readonly cpu: NodeJS.CpuUsage;
  readonly wallMs: number;
  /** From the first send to the last reply (at least 1). */
  readonly elapsedMs: number;
  readonly series: SeriesReport;
  readonly commands: CommandFigures;
  readonly latencyDistribution: Distribution;
  /** Open loop only; `intended` leaves out the sends cut short by the end of the run. */
  readonly schedule: ScheduleReport | null;
  /** Read-your-writes checks (reported when any was made or `rywRate` asked for them). */
  readonly ryw: RywReport;
  readonly rywDistribution: () => Distribution;
}

/** The report of a run: its figures, the generator's own saturation, and the SLO verdicts (`--slo`). */
export function buildReport(t: RunTally): Report {
  const c = t.commands;
  const calls = c.total + t.ryw.checks;
  const rps = (c.total * 1000) / t.elapsedMs;
  const schedule = t.schedule;
  const ryw = t.ryw.checks === 0 && t.options.rywRate <= 0 ? null : t.ryw;
  const base = {
    tool: "orderly-loadtest" as const,
    schema_version: 1 as const,
    command: t.options.command ?? "",
    started_at: t.startedAt.toISOString(),
    options: reportOptions(t.options),
    elapsed_s: round(t.elapsedMs / 1000, 3),
    total: c.total,
    ok: c.total - c.errors,
    rps: round(rps, 1),
    latency_ms: c.latency_ms,
    status_codes: c.status_codes,
    by_kind: c.by_kind,
    errors: c.errors,
    error_rate: c.total === 0 ? 0 : round(c.errors / c.total, 6),
    error_messages: c.error_messages,
    schedule,
    ryw,
    generator: generatorReport(t, calls, schedule),
    series: t.series,
    distribution: { commands: t.latencyDistribution, ryw: ryw ? t.rywDistribution() : null },
  };
  if (t.options.slo.length === 0) return { ...base, slo: null };
  const checks = evaluateSlo(t.options.slo, {
    latencyMs: { ...percentiles(c.latency_ms), mean: c.latency_ms.mean },
    rywLatencyMs: ryw && ryw.ok > 0 ? percentiles(ryw.latency_ms) : undefined,
    calls,
    errors: c.errors + (ryw?.failed ?? 0),
    intended: schedule?.intended ?? c.total,
    dropped: schedule?.dropped ?? 0,
    rps,
    maxLagSeconds: ryw && ryw.checks > 0 ? ryw.max_lag_seconds : undefined,
  });
  return { ...base, slo: { passed: checks.every((check) => check.passed), checks } };
}

/** A latency summary under the names SLOs give its percentiles. */
function percentiles(l: LatencySummary): NonNullable<SloFigures["rywLatencyMs"]> {
  return { p50: l.p50, p90: l.p90, p99: l.p99, "p99.9": l.p99_9, max: l.max };
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
