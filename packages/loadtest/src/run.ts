import { performance } from "node:perf_hooks";
import { type ClientUnaryCall, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { GetOrderSummaryResponse } from "@orderly/contracts";
import { CommandClient, QueryClient, statusName } from "./grpc-client.js";
import { LatencyRecorder } from "./latency.js";
import { CALL_KINDS, type CallKind, createRng, type Mix } from "./mix.js";
import { CallPlanner, type PlannedCall } from "./planner.js";
import { buildReport, type KindReport, type ProgressState, type Report, round, type SeriesReport } from "./report.js";
import { OpenLoopSchedule } from "./schedule.js";
import type { LoadSecurity } from "./security.js";
import { PerSecondRecorder } from "./series.js";
import { ServerLagSampler } from "./server-lag.js";
import type { SloCheck } from "./slo.js";
import type { AcceptedReply } from "./wire.js";

export interface LoadOptions {
  /** CommandService address, `host:port`. */
  readonly address: string;
  readonly mode: "open" | "closed";
  /** Open loop: calls per second. */
  readonly rate?: number;
  /** Closed loop: calls in flight, each sent as soon as the previous one answered. */
  readonly concurrency?: number;
  /** Exactly one of durationMs and count. */
  readonly durationMs?: number;
  readonly count?: number;
  /** Per-call timeout (0: none). */
  readonly timeoutMs: number;
  /**
   * Send the timeout as a gRPC deadline on every command (grpc-js arms a timer and a grpc-timeout header per call,
   * ~8–10 % of a call's client CPU). By default one sweep timer cancels command calls older than the timeout instead
   * (reported as DEADLINE_EXCEEDED); read-your-writes queries always carry the deadline (it bounds the server's wait).
   */
  readonly grpcDeadline?: boolean;
  /** Open loop: most calls in flight; the schedule waits (and counts late sends) beyond it. */
  readonly maxInFlight: number;
  /** HTTP/2 connections to spread calls over. */
  readonly connections: number;
  readonly mix: Mix;
  /** Share of accepted commands followed by a read-your-writes check. */
  readonly rywRate: number;
  /** QueryService address (required when rywRate > 0). */
  readonly queryAddress?: string;
  /**
   * TLS (CA, client certificate for mTLS, server name) and a bearer token asked per call, for both services; plaintext
   * without a token when absent. Only whether each part is on reaches the report, never a secret.
   */
  readonly security?: LoadSecurity;
  readonly seed: number;
  readonly customers: number;
  readonly lateThresholdMs: number;
  readonly slo: readonly SloCheck[];
  /** Called every `progressIntervalMs` while running. */
  readonly onProgress?: (progress: ProgressState) => void;
  readonly progressIntervalMs?: number;
  /** Stops issuing new calls (in-flight ones finish and are reported). */
  readonly signal?: AbortSignal;
  /**
   * Called with every command call's outcome as it settles (fault suites keep them to check each command against the
   * store). Off the hot path when absent.
   */
  readonly onReply?: (reply: CallOutcome) => void;
  readonly connectTimeoutMs?: number;
  /** For the report. */
  readonly command?: string;
  /** Services' Prometheus /metrics URLs to sample read-model lag from, once a second (`series.server_lag_s`). */
  readonly metricsUrls?: readonly string[];
}

/** One settled command call, as `LoadOptions.onReply` sees it. */
export interface CallOutcome {
  readonly call: PlannedCall;
  /** gRPC status code (0 = OK); the generator's own timeout reports DEADLINE_EXCEEDED. */
  readonly code: number;
  readonly details: string;
  readonly accepted: AcceptedReply | undefined;
  /** `performance.now()` when the call was sent (intended time in open loop) and when it settled. */
  readonly startedAt: number;
  readonly settledAt: number;
}

const MAX_DISTINCT_MESSAGES = 50;

/** What a call cancelled by the generator's own timeout reports. */
const CLIENT_TIMEOUT = (timeoutMs: number): ServiceError =>
  Object.assign(new Error(`client timeout after ${timeoutMs} ms`), {
    code: status.DEADLINE_EXCEEDED,
    details: `client timeout after ${timeoutMs} ms (call cancelled)`,
    metadata: new Metadata(),
  });

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

/** Runs one load test and returns its report. Rejects only when the target cannot be reached at all. */
export async function runLoad(options: LoadOptions): Promise<Report> {
  if ((options.durationMs === undefined) === (options.count === undefined)) {
    throw new Error("give exactly one of a duration and a count");
  }
  if (options.rywRate > 0 && !options.queryAddress) throw new Error("read-your-writes checks need a query address");
  const commands = new CommandClient(options.address, options.connections, options.security);
  const queries =
    options.rywRate > 0 && options.queryAddress ? new QueryClient(options.queryAddress, options.security) : undefined;
  try {
    const connectTimeout = options.connectTimeoutMs ?? 10_000;
    try {
      await commands.waitForReady(connectTimeout);
      await queries?.waitForReady(connectTimeout);
    } catch (error) {
      throw new Error(`cannot connect within ${connectTimeout} ms: ${(error as Error).message}`);
    }
    return await new Run(options, commands, queries).execute();
  } finally {
    commands.close();
    queries?.close();
  }
}

class Run {
  private readonly rng: () => number;
  private readonly planner: CallPlanner;
  /** Command replies per second; its `total` is the whole run's latency histogram. */
  private commandSeries = new PerSecondRecorder(0);
  private readonly kinds = new Map<CallKind, KindStats>(CALL_KINDS.map((k) => [k, new KindStats()]));
  private readonly statusCounts = new Array<number>(17).fill(0);
  private readonly errorTally = new ErrorTally();
  private completed = 0;
  private errors = 0;
  private inFlight = 0;
  private issued = 0;
  private stopping = false;
  private lastReplyAt = 0;
  private start = 0;
  private finish: (() => void) | undefined;
  // open loop
  private schedule: OpenLoopSchedule | undefined;
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;
  private late = 0;
  private dropped = 0;
  /** Calls the schedule had not yet reached when the run was stopped (Ctrl-C, abort): never intended, not dropped. */
  private cutShort = 0;
  private readonly sendDelay = new LatencyRecorder();
  // client-side timeouts: calls in flight in send order (a Map iterates in insertion order), oldest first
  private readonly pending = new Map<ClientUnaryCall, number>();
  private readonly timedOut = new WeakSet<ClientUnaryCall>();
  private sweeper: NodeJS.Timeout | undefined;
  // read-your-writes
  private rywInFlight = 0;
  private rywChecks = 0;
  private rywOk = 0;
  private readonly rywStatus = new Array<number>(17).fill(0);
  /** Read-your-writes answers per second (timed when the check passed); its `total` is the visibility histogram. */
  private rywSeries = new PerSecondRecorder(0);
  private lastRywAt = 0;
  private lagSampler: ServerLagSampler | undefined;
  private readonly rywErrors = new ErrorTally();
  private maxLagSeconds = 0;

  constructor(
    private readonly options: LoadOptions,
    private readonly commands: CommandClient,
    private readonly queries: QueryClient | undefined,
  ) {
    this.rng = createRng(options.seed);
    this.planner = new CallPlanner({ mix: options.mix, rng: this.rng, customers: options.customers });
  }

  async execute(): Promise<Report> {
    const o = this.options;
    const startedAt = new Date();
    const done = new Promise<void>((resolve) => {
      this.finish = resolve;
    });
    const onAbort = () => this.stop();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    const cpuStart = process.cpuUsage();
    this.start = performance.now();
    this.lastReplyAt = this.start;
    this.lastRywAt = this.start;
    this.commandSeries = new PerSecondRecorder(this.start);
    this.rywSeries = new PerSecondRecorder(this.start);
    if (o.metricsUrls && o.metricsUrls.length > 0) {
      this.lagSampler = new ServerLagSampler(o.metricsUrls, this.start, () => performance.now());
      this.lagSampler.start();
    }
    const progress = o.onProgress ? setInterval(() => this.progress(), o.progressIntervalMs ?? 200) : undefined;
    progress?.unref();
    if (o.timeoutMs > 0 && !o.grpcDeadline) {
      this.sweeper = setInterval(this.sweep, Math.max(10, Math.min(250, o.timeoutMs / 4)));
      this.sweeper.unref();
    }
    if (o.mode === "open") {
      const rate = o.rate ?? 0;
      const limit = o.count !== undefined ? { count: o.count } : { durationMs: o.durationMs ?? 0 };
      this.schedule = new OpenLoopSchedule(rate, this.start, limit, o.lateThresholdMs);
      this.pump();
    } else {
      const workers = Math.max(1, o.concurrency ?? 1);
      for (let i = 0; i < workers && this.mayIssue(performance.now()); i++) this.sendNext(performance.now());
      this.maybeFinish();
    }
    await done;
    this.lagSampler?.stop();
    if (progress) clearInterval(progress);
    if (this.sweeper) clearInterval(this.sweeper);
    o.signal?.removeEventListener("abort", onAbort);
    const cpu = process.cpuUsage(cpuStart);
    const wallMs = Math.max(1, performance.now() - this.start);
    return this.report(startedAt, cpu, wallMs);
  }

  private stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.schedule) {
      // Calls already due but not sent are dropped (the generator or the in-flight cap held them back); the rest of
      // the schedule was cut short by the stop and was never intended.
      const due = Math.max(this.issued, this.schedule.dueBy(performance.now()));
      this.dropped += due - this.issued;
      this.cutShort = this.schedule.total - due;
      this.issued = this.schedule.total;
    }
    this.maybeFinish();
  }

  // ---- closed loop -------------------------------------------------------------------------------------------

  private mayIssue(now: number): boolean {
    if (this.stopping) return false;
    const o = this.options;
    if (o.count !== undefined) return this.issued < o.count;
    return now - this.start < (o.durationMs ?? 0);
  }

  private sendNext(now: number): void {
    this.send(this.planner.next(), now);
  }

  // ---- open loop ---------------------------------------------------------------------------------------------

  /** Sends every call that is due (up to the in-flight cap), then arms a timer for the next one. */
  private pump(): void {
    const schedule = this.schedule as OpenLoopSchedule;
    this.blocked = false;
    let now = performance.now();
    if (schedule.shouldDrop(now) && this.issued < schedule.total) {
      this.dropped += schedule.total - this.issued;
      this.issued = schedule.total;
    }
    const due = schedule.dueBy(now);
    const cap = this.options.maxInFlight;
    while (this.issued < due && this.inFlight < cap && !this.stopping) {
      const intended = schedule.intendedAt(this.issued);
      this.sendDelay.recordMs(now - intended);
      if (schedule.isLate(intended, now)) this.late += 1;
      this.send(this.planner.next(), intended);
      now = performance.now();
    }
    if (this.issued < schedule.total && !this.stopping) {
      if (this.issued < due) {
        this.blocked = true; // at the cap: the next reply sends the next call
      } else if (!this.timer) {
        this.timer = setTimeout(this.onTimer, schedule.delayUntil(this.issued, now));
      }
    }
    this.maybeFinish();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.pump();
  };

  // ---- both --------------------------------------------------------------------------------------------------

  /** `startedAt`: the time latency is measured from (intended time in open loop). */
  private send(call: PlannedCall, startedAt: number): void {
    this.issued += 1;
    this.inFlight += 1;
    const o = this.options;
    const sweep = this.sweeper !== undefined;
    // grpc-js never calls back synchronously, so `handle` is set before the callback runs.
    const handle: ClientUnaryCall = this.commands.call(
      call.method,
      call.bytes,
      sweep ? 0 : o.grpcDeadline ? o.timeoutMs : 0,
      (error, accepted) => {
        if (sweep) {
          this.pending.delete(handle);
          if (this.timedOut.has(handle)) {
            this.onReply(call, startedAt, CLIENT_TIMEOUT(o.timeoutMs), undefined);
            return;
          }
        }
        this.onReply(call, startedAt, error, accepted);
      },
    );
    if (sweep) this.pending.set(handle, performance.now() + o.timeoutMs);
  }

  /** Cancels command calls past their timeout; they are reported as DEADLINE_EXCEEDED. */
  private readonly sweep = (): void => {
    const now = performance.now();
    for (const [handle, expiresAt] of this.pending) {
      if (expiresAt > now) break; // later entries were sent later
      this.pending.delete(handle);
      this.timedOut.add(handle);
      handle.cancel();
    }
  };

  private onReply(
    call: PlannedCall,
    startedAt: number,
    error: ServiceError | null,
    accepted: AcceptedReply | undefined,
  ): void {
    const now = performance.now();
    this.inFlight -= 1;
    this.completed += 1;
    this.lastReplyAt = now;
    const code = error ? error.code : status.OK;
    this.statusCounts[code] = (this.statusCounts[code] ?? 0) + 1;
    this.options.onReply?.({
      call,
      code,
      details: error?.details ?? "",
      accepted,
      startedAt,
      settledAt: now,
    });
    let expected: boolean;
    if (call.expect === "aborted") expected = code === status.ABORTED;
    else
      expected = code === status.OK && accepted !== undefined && accepted.duplicate === (call.expect === "duplicate");
    const ms = now - startedAt;
    this.commandSeries.record(now, ms, !expected);
    const stats = this.kinds.get(call.kind) as KindStats;
    stats.count += 1;
    stats.status[code] = (stats.status[code] ?? 0) + 1;
    stats.latency.recordMs(ms);
    if (!expected) {
      this.errors += 1;
      stats.errors += 1;
      this.errorTally.add(describeUnexpected(call, code, error, accepted));
    }
    this.planner.settle(call, expected, accepted?.streamVersion);
    if (
      expected &&
      call.expect === "ok" &&
      accepted &&
      call.order &&
      this.queries &&
      this.rng() < this.options.rywRate
    ) {
      this.checkVisible(call.order.id, accepted, now);
    }
    if (this.schedule) {
      if (this.blocked) this.pump();
      else this.maybeFinish();
    } else if (this.mayIssue(now)) {
      this.sendNext(now);
    } else {
      this.maybeFinish();
    }
  }

  private checkVisible(orderId: string, accepted: AcceptedReply, acceptedAt: number): void {
    const queries = this.queries as QueryClient;
    const streamVersion = accepted.streamVersion;
    this.rywInFlight += 1;
    this.rywChecks += 1;
    queries.getOrderSummary(
      orderId,
      accepted.position,
      this.options.timeoutMs,
      (error: ServiceError | null, response: GetOrderSummaryResponse | undefined) => {
        const now = performance.now();
        this.rywInFlight -= 1;
        const code = error ? error.code : status.OK;
        this.rywStatus[code] = (this.rywStatus[code] ?? 0) + 1;
        this.lastRywAt = now;
        const lag = response?.consistency?.lagSeconds;
        if (lag !== undefined) {
          if (lag > this.maxLagSeconds) this.maxLagSeconds = lag;
          this.rywSeries.observePeak(now, lag);
        }
        const version = response?.summary ? Number(response.summary.version) : -1;
        const visible = code === status.OK && version >= streamVersion;
        this.rywSeries.record(now, visible ? now - acceptedAt : undefined, !visible);
        if (visible) {
          this.rywOk += 1;
        } else if (code === status.OK) {
          this.rywErrors.add(`stale read: summary version ${version} < stream version ${streamVersion}`);
        } else {
          this.rywErrors.add(`${statusName(code)}: ${error?.details ?? ""}`);
        }
        this.maybeFinish();
      },
    );
  }

  private maybeFinish(): void {
    if (!this.finish || this.inFlight > 0 || this.rywInFlight > 0) return;
    const now = performance.now();
    const issuing = this.schedule ? this.issued < this.schedule.total && !this.stopping : this.mayIssue(now);
    if (issuing) return;
    const finish = this.finish;
    this.finish = undefined;
    finish();
  }

  /** Closes both per-second recorders (their `total` histograms are complete afterwards) and lays out the series. */
  private series(): SeriesReport {
    const spanMs = Math.max(1, this.lastReplyAt - this.start, this.lastRywAt - this.start);
    const intervals = Math.max(1, Math.ceil(spanMs / 1000 - 1e-9));
    const { peak: _commandPeak, ...commands } = this.commandSeries.finish(intervals);
    const { peak, ...ryw } = this.rywSeries.finish(intervals);
    // The last interval ends at the last reply; at least 1 ms after the one before (a span of 2.0004 s rounds to 2).
    const last = Math.max(round(spanMs / 1000, 3), intervals - 1 + 0.001);
    const endS = Array.from({ length: intervals }, (_, i) => (i + 1 < intervals ? i + 1 : last));
    let target: number[] | null = null;
    const schedule = this.schedule;
    if (schedule) {
      // Calls whose intended time falls in [a, b): ceil(b·rate) − ceil(a·rate), within what the run intended.
      const intended = schedule.total - this.cutShort;
      const upTo = (seconds: number) => Math.min(intended, Math.max(0, Math.ceil(seconds * schedule.rate - 1e-9)));
      target = endS.map((end, i) => upTo(end) - upTo(i));
    }
    return {
      interval_s: 1,
      end_s: endS,
      commands,
      target,
      ryw: this.rywChecks > 0 || this.options.rywRate > 0 ? { ...ryw, max_lag_s: peak } : null,
      server_lag_s: this.lagSampler ? this.lagSampler.series(intervals) : null,
    };
  }

  private progress(): void {
    const o = this.options;
    const elapsedMs = performance.now() - this.start;
    let fraction: number;
    if (o.count !== undefined) fraction = this.completed / Math.max(1, o.count);
    else fraction = elapsedMs / Math.max(1, o.durationMs ?? 1);
    o.onProgress?.({
      elapsedMs,
      fraction,
      completed: this.completed,
      inFlight: this.inFlight,
      errors: this.errors,
      rps: elapsedMs > 0 ? (this.completed * 1000) / elapsedMs : 0,
    });
  }

  private report(startedAt: Date, cpu: NodeJS.CpuUsage, wallMs: number): Report {
    const schedule = this.schedule;
    return buildReport({
      options: this.options,
      startedAt,
      cpu,
      wallMs,
      elapsedMs: Math.max(1, this.lastReplyAt - this.start),
      series: this.series(),
      completed: this.completed,
      errors: this.errors,
      latency: this.commandSeries.total.summary(),
      latencyDistribution: this.commandSeries.total.distribution(),
      statusCodes: namedCounts(this.statusCounts),
      byKind: Object.fromEntries(CALL_KINDS.map((k) => [k, (this.kinds.get(k) as KindStats).report()])) as Record<
        CallKind,
        KindReport
      >,
      errorMessages: this.errorTally.top(10),
      schedule: schedule && {
        rate: schedule.rate,
        intended: schedule.total - this.cutShort,
        late: this.late,
        dropped: this.dropped,
        lateThresholdMs: schedule.lateThresholdMs,
        sendDelay: this.sendDelay.summary(),
      },
      ryw: {
        checks: this.rywChecks,
        ok: this.rywOk,
        statusCodes: namedCounts(this.rywStatus),
        latency: this.rywSeries.total.summary(),
        distribution: () => this.rywSeries.total.distribution(),
        maxLagSeconds: this.maxLagSeconds,
        errorMessages: this.rywErrors.top(10),
      },
    });
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
