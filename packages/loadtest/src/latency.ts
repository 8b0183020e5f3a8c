import { build, type Histogram } from "hdr-histogram-js";

/** Percentiles of a latency histogram, in milliseconds (3 decimals). Field names are part of the JSON output. */
export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p99_9: number;
  readonly max: number;
  readonly stdev: number;
}

/**
 * An HDR histogram of latencies recorded in microseconds (3 significant digits, auto-resizing): recording is a few
 * array operations, cheap enough to do for every call.
 */
export class LatencyRecorder {
  private readonly histogram: Histogram = build({
    numberOfSignificantValueDigits: 3,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    autoResize: true,
  });

  /** Records one latency given in milliseconds. */
  recordMs(ms: number): void {
    this.histogram.recordValue(ms <= 0.001 ? 1 : Math.round(ms * 1000));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  summary(): LatencySummary {
    const h = this.histogram;
    if (h.totalCount === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p99_9: 0, max: 0, stdev: 0 };
    // A percentile is reported as the top of its HDR bucket, which can lie just above the exact maximum: clamp.
    const max = h.maxValue;
    const at = (p: number) => usToMs(Math.min(h.getValueAtPercentile(p), max));
    return {
      count: h.totalCount,
      min: usToMs(h.minNonZeroValue),
      mean: usToMs(h.mean),
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p99_9: at(99.9),
      max: usToMs(max),
      stdev: usToMs(h.stdDeviation),
    };
  }
}

function usToMs(us: number): number {
  return Math.round(us) / 1000;
}
