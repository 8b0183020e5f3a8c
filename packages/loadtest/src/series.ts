import { type Distribution, LatencyRecorder } from "./latency.js";

/**
 * Figures of one kind of call for each second of a run, by the second its reply arrived in (as k6 and Gatling draw
 * them). Part of the JSON output (`series`); every array has one entry per interval, null where a second had no
 * timed call.
 */
export interface IntervalSeries {
  /** Replies in the interval (any outcome). */
  readonly count: number[];
  /** Replies with an unexpected outcome (commands) or failed checks (read-your-writes). */
  readonly errors: number[];
  readonly p50_ms: (number | null)[];
  readonly p90_ms: (number | null)[];
  readonly p99_ms: (number | null)[];
  readonly max_ms: (number | null)[];
}

/**
 * Records calls into per-second buckets at a cost of a few arithmetic operations per call: the latency of the open
 * second goes into one interval HDR histogram; when a reply lands in a later second, the open second's counts and
 * percentiles are written out and its histogram is added into the whole-run one (`total`) and reset. So there is
 * still one histogram record per call, and memory grows by a few numbers per second, not per call.
 */
export class PerSecondRecorder {
  /** Every latency recorded, complete once `finish` has run. */
  readonly total = new LatencyRecorder();
  private readonly interval = new LatencyRecorder();
  private second = 0;
  private count = 0;
  private errors = 0;
  private peak: number | null = null;
  private readonly out = {
    count: [] as number[],
    errors: [] as number[],
    p50_ms: [] as (number | null)[],
    p90_ms: [] as (number | null)[],
    p99_ms: [] as (number | null)[],
    max_ms: [] as (number | null)[],
    peak: [] as (number | null)[],
  };

  /** `startMs`: the run's start on the performance.now() clock; interval i covers [start + i s, start + (i+1) s). */
  constructor(private readonly startMs: number) {}

  /** One reply at `now`; `latencyMs` undefined counts it without timing it (a failed check has no visibility time). */
  record(now: number, latencyMs: number | undefined, error: boolean): void {
    const second = Math.floor((now - this.startMs) / 1000);
    if (second > this.second) this.rollTo(second);
    this.count += 1;
    if (error) this.errors += 1;
    if (latencyMs !== undefined) this.interval.recordMs(latencyMs);
  }

  /** The largest value of a gauge seen in the current second (e.g. the read-model lag an answer reported). */
  observePeak(now: number, value: number): void {
    const second = Math.floor((now - this.startMs) / 1000);
    if (second > this.second) this.rollTo(second);
    if (this.peak === null || value > this.peak) this.peak = value;
  }

  private rollTo(second: number): void {
    this.flush();
    for (let s = this.second + 1; s < second; s++) this.pushEmpty();
    this.second = second;
  }

  private flush(): void {
    const o = this.out;
    o.count.push(this.count);
    o.errors.push(this.errors);
    o.p50_ms.push(this.interval.percentileMs(50));
    o.p90_ms.push(this.interval.percentileMs(90));
    o.p99_ms.push(this.interval.percentileMs(99));
    o.max_ms.push(this.interval.percentileMs(100));
    o.peak.push(this.peak);
    this.total.add(this.interval);
    this.interval.reset();
    this.count = 0;
    this.errors = 0;
    this.peak = null;
  }

  private pushEmpty(): void {
    const o = this.out;
    o.count.push(0);
    o.errors.push(0);
    o.p50_ms.push(null);
    o.p90_ms.push(null);
    o.p99_ms.push(null);
    o.max_ms.push(null);
    o.peak.push(null);
  }

  /**
   * Closes the open second and pads to `intervals` entries. Call once, at the end; afterwards `total` holds every
   * latency. `peak` is the per-second gauge maximum (null where none was observed).
   */
  finish(intervals: number): IntervalSeries & { readonly peak: (number | null)[] } {
    this.flush();
    while (this.out.count.length < intervals) this.pushEmpty();
    const { peak, ...series } = this.out;
    return { ...series, peak };
  }
}

export type { Distribution };
