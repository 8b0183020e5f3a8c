import type { Distribution, LatencySummary } from "./latency.js";
import type { CallKind } from "./mix.js";
import type { SecurityReport } from "./security.js";
import type { IntervalSeries } from "./series.js";
import type { SloResult } from "./slo.js";

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
