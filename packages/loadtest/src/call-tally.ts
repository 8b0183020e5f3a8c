import { type ServiceError, status } from "@grpc/grpc-js";
import type { GetOrderSummaryResponse } from "@orderly/contracts";
import type { CommandFigures } from "./build-report.js";
import { statusName } from "./grpc-client.js";
import { LatencyRecorder } from "./latency.js";
import { CALL_KINDS, type CallKind } from "./mix.js";
import type { PlannedCall } from "./planner.js";
import type { KindReport, RywReport } from "./report.js";
import type { PerSecondRecorder } from "./series.js";
import type { AcceptedReply } from "./wire.js";

// What a run counts of the calls it made: command replies (by kind, by status, per second, unexpected outcomes) and
// read-your-writes answers. A few arithmetic operations and one histogram record per reply.

const MAX_DISTINCT_MESSAGES = 50;

class ErrorTally {
  private readonly counts = new Map<string, number>();
  add(message: string): void {
    const masked = maskIds(message);
    const key = this.counts.has(masked) || this.counts.size < MAX_DISTINCT_MESSAGES ? masked : "(other messages)";
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  top(n: number): { message: string; count: number }[] {
    return [...this.counts.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([message, count]) => ({ message, count }));
  }
}

/** Masks UUIDs and long numbers so messages about different orders count as one. */
export function maskIds(message: string): string {
  return message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<uuid>")
    .replace(/lt-[0-9a-f]{8}-\d+/g, "<key>")
    .replace(/\d{3,}/g, "<n>")
    .slice(0, 300);
}

class KindStats {
  count = 0;
  errors = 0;
  readonly status = new Array<number>(17).fill(0);
  readonly latency = new LatencyRecorder();
  report(): KindReport {
    return {
      count: this.count,
      errors: this.errors,
      latency_ms: this.latency.summary(),
      status_codes: namedCounts(this.status),
    };
  }
}

/** Command replies: the run's totals, per kind and per second. */
export class CommandTally {
  completed = 0;
  errors = 0;
  private readonly kinds = new Map<CallKind, KindStats>(CALL_KINDS.map((k) => [k, new KindStats()]));
  private readonly statusCounts = new Array<number>(17).fill(0);
  private readonly errorTally = new ErrorTally();

  /** `series`: replies per second; its `total` is the whole run's latency histogram (once `series.finish` ran). */
  constructor(readonly series: PerSecondRecorder) {}

  /** Counts one settled call, `ms` after it was due; returns whether its outcome was the expected one. */
  record(
    call: PlannedCall,
    code: number,
    error: ServiceError | null,
    accepted: AcceptedReply | undefined,
    ms: number,
    now: number,
  ): boolean {
    this.completed += 1;
    this.statusCounts[code] = (this.statusCounts[code] ?? 0) + 1;
    let expected: boolean;
    if (call.expect === "aborted") expected = code === status.ABORTED;
    else
      expected = code === status.OK && accepted !== undefined && accepted.duplicate === (call.expect === "duplicate");
    this.series.record(now, ms, !expected);
    const stats = this.kinds.get(call.kind) as KindStats;
    stats.count += 1;
    stats.status[code] = (stats.status[code] ?? 0) + 1;
    stats.latency.recordMs(ms);
    if (!expected) {
      this.errors += 1;
      stats.errors += 1;
      this.errorTally.add(describeUnexpected(call, code, error, accepted));
    }
    return expected;
  }

  /** The report's command figures (after `series.finish`). */
  figures(): CommandFigures {
    return {
      total: this.completed,
      errors: this.errors,
      latency_ms: this.series.total.summary(),
      status_codes: namedCounts(this.statusCounts),
      by_kind: Object.fromEntries(CALL_KINDS.map((k) => [k, (this.kinds.get(k) as KindStats).report()])) as Record<
        CallKind,
        KindReport
      >,
      error_messages: this.errorTally.top(10),
    };
  }
}

/** Read-your-writes answers: passed and failed checks, visibility time per second, the largest lag reported. */
export class RywTally {
  checks = 0;
  ok = 0;
  private readonly status = new Array<number>(17).fill(0);
  private readonly errors = new ErrorTally();
  private maxLagSeconds = 0;

  /** `series`: answers per second (timed when the check passed); its `total` is the visibility histogram. */
  constructor(readonly series: PerSecondRecorder) {}

  /** Counts one answer to a check of a command accepted at `acceptedAt` with `streamVersion`. */
  record(
    now: number,
    acceptedAt: number,
    streamVersion: number,
    error: ServiceError | null,
    response: GetOrderSummaryResponse | undefined,
  ): void {
    const code = error ? error.code : status.OK;
    this.status[code] = (this.status[code] ?? 0) + 1;
    const lag = response?.consistency?.lagSeconds;
    if (lag !== undefined) {
      if (lag > this.maxLagSeconds) this.maxLagSeconds = lag;
      this.series.observePeak(now, lag);
    }
    const version = response?.summary ? Number(response.summary.version) : -1;
    const visible = code === status.OK && version >= streamVersion;
    this.series.record(now, visible ? now - acceptedAt : undefined, !visible);
    if (visible) {
      this.ok += 1;
    } else if (code === status.OK) {
      this.errors.add(`stale read: summary version ${version} < stream version ${streamVersion}`);
    } else {
      this.errors.add(`${statusName(code)}: ${error?.details ?? ""}`);
    }
  }

  /** The report's read-your-writes figures (after `series.finish`). */
  figures(): RywReport {
    return {
      checks: this.checks,
      ok: this.ok,
      failed: this.checks - this.ok,
      status_codes: namedCounts(this.status),
      latency_ms: this.series.total.summary(),
      max_lag_seconds: this.maxLagSeconds,
      error_messages: this.errors.top(10),
    };
  }
}

function describeUnexpected(
  call: PlannedCall,
  code: number,
  error: ServiceError | null,
  accepted: AcceptedReply | undefined,
): string {
  if (code !== status.OK) return `${call.kind}: ${statusName(code)}: ${error?.details ?? ""}`;
  if (call.expect === "aborted") return `${call.kind}: OK where ABORTED was expected (stale expected_version accepted)`;
  if (!accepted) return `${call.kind}: OK without CommandAccepted`;
  return call.expect === "duplicate"
    ? `${call.kind}: replayed request not marked duplicate`
    : `${call.kind}: fresh request marked duplicate`;
}

function namedCounts(counts: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  counts.forEach((count, code) => {
    if (count > 0) out[statusName(code)] = count;
  });
  return out;
}
