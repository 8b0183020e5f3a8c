import { performance } from "node:perf_hooks";
import { type ClientUnaryCall, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { GetOrderSummaryResponse } from "@orderly/contracts";
import { buildReport, round } from "./build-report.js";
import { CommandTally, RywTally } from "./call-tally.js";
import { CommandClient, QueryClient } from "./grpc-client.js";
import { LatencyRecorder } from "./latency.js";
import type { LoadOptions } from "./load-options.js";
import { createRng } from "./mix.js";
import { CallPlanner, type PlannedCall } from "./planner.js";
import type { Report, ScheduleReport, SeriesReport } from "./report.js";
import { OpenLoopSchedule } from "./schedule.js";
import { PerSecondRecorder } from "./series.js";
import { ServerLagSampler } from "./server-lag.js";
import type { AcceptedReply } from "./wire.js";

export type { CallOutcome, LoadOptions } from "./load-options.js";

/** What a call cancelled by the generator's own timeout reports. */
const CLIENT_TIMEOUT = (timeoutMs: number): ServiceError =>
  Object.assign(new Error(`client timeout after ${timeoutMs} ms`), {
    code: status.DEADLINE_EXCEEDED,
    details: `client timeout after ${timeoutMs} ms (call cancelled)`,
    metadata: new Metadata(),
  });

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
  /** Command replies (made again when the run starts, on its clock). */
  private tally = new CommandTally(new PerSecondRecorder(0));
  private lastReplyAt = 0;
  private inFlight = 0;
  private issued = 0;
  private stopping = false;
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
  private ryw = new RywTally(new PerSecondRecorder(0));
  private lastRywAt = 0;
  private lagSampler: ServerLagSampler | undefined;

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
    this.tally = new CommandTally(new PerSecondRecorder(this.start));
    this.ryw = new RywTally(new PerSecondRecorder(this.start));
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
    this.lastReplyAt = now;
    const code = error ? error.code : status.OK;
    const expected = this.tally.record(call, code, error, accepted, now - startedAt, now);
    this.options.onReply?.({
      call,
      code,
      details: error?.details ?? "",
      accepted,
      startedAt,
      settledAt: now,
    });
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
    this.ryw.checks += 1;
    queries.getOrderSummary(
      orderId,
      accepted.position,
      this.options.timeoutMs,
      (error: ServiceError | null, response: GetOrderSummaryResponse | undefined) => {
        const now = performance.now();
        this.rywInFlight -= 1;
        this.lastRywAt = now;
        this.ryw.record(now, acceptedAt, streamVersion, error, response);
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
    const { peak: _commandPeak, ...commands } = this.tally.series.finish(intervals);
    const { peak, ...ryw } = this.ryw.series.finish(intervals);
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
      ryw: this.ryw.checks > 0 || this.options.rywRate > 0 ? { ...ryw, max_lag_s: peak } : null,
      server_lag_s: this.lagSampler ? this.lagSampler.series(intervals) : null,
    };
  }

  private progress(): void {
    const o = this.options;
    const elapsedMs = performance.now() - this.start;
    let fraction: number;
    const { completed, errors } = this.tally;
    if (o.count !== undefined) fraction = completed / Math.max(1, o.count);
    else fraction = elapsedMs / Math.max(1, o.durationMs ?? 1);
    o.onProgress?.({
      elapsedMs,
      fraction,
      completed,
      inFlight: this.inFlight,
      errors,
      rps: elapsedMs > 0 ? (completed * 1000) / elapsedMs : 0,
    });
  }

  private scheduleFigures(schedule: OpenLoopSchedule): ScheduleReport {
    const intended = schedule.total - this.cutShort;
    return {
      target_rate: schedule.rate,
      intended,
      sent: intended - this.dropped,
      late: this.late,
      dropped: this.dropped,
      late_threshold_ms: schedule.lateThresholdMs,
      send_delay_ms: this.sendDelay.summary(),
    };
  }

  private report(startedAt: Date, cpu: NodeJS.CpuUsage, wallMs: number): Report {
    const elapsedMs = Math.max(1, this.lastReplyAt - this.start);
    const series = this.series(); // first: it completes the recorders' whole-run histograms
    const schedule = this.schedule;
    return buildReport({
      options: this.options,
      startedAt,
      cpu,
      wallMs,
      elapsedMs,
      series,
      commands: this.tally.figures(),
      latencyDistribution: this.tally.series.total.distribution(),
      schedule: schedule ? this.scheduleFigures(schedule) : null,
      ryw: this.ryw.figures(),
      rywDistribution: () => this.ryw.series.total.distribution(),
    });
  }
}
