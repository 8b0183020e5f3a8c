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

  /** Adds another recorder's samples to this one (the other is unchanged). */
  add(other: LatencyRecorder): void {
    this.histogram.add(other.histogram);
  }

  reset(): void {
    this.histogram.reset();
  }

  /** One latency percentile (0–100) in ms, clamped to the maximum; null when nothing was recorded. */
  percentileMs(percentile: number): number | null {
    const h = this.histogram;
    if (h.totalCount === 0) return null;
    return usToMs(Math.min(h.getValueAtPercentile(percentile), h.maxValue));
  }

  /**
   * The percentile distribution as HdrHistogram prints it: points at quantiles 1 − ½^(k/ticks), `ticks` points per
   * halving of the distance to 1, up to the last quantile one sample can stand for (1 − 1/count), which is the
   * maximum. Plotted against 1/(1 − quantile) on a log axis this is the classic HDR percentile plot.
   */
  distribution(ticksPerHalfDistance = 4): Distribution {
    const h = this.histogram;
    const quantile: number[] = [];
    const ms: number[] = [];
    const n = h.totalCount;
    if (n === 0) return { quantile, ms };
    const max = h.maxValue;
    const last = 1 - 1 / n;
    for (let k = 0; ; k++) {
      const q = 1 - 0.5 ** (k / ticksPerHalfDistance);
      if (q >= last && k > 0) break;
      quantile.push(roundQuantile(q));
      // At quantile 0 HDR answers the top of the lowest bucket: the minimum itself is known exactly.
      ms.push(usToMs(k === 0 ? h.minNonZeroValue : Math.min(h.getValueAtPercentile(q * 100), max)));
    }
    if (quantile.at(-1) === roundQuantile(last)) ms[ms.length - 1] = usToMs(max);
    else {
      quantile.push(roundQuantile(last));
      ms.push(usToMs(max));
    }
    return { quantile, ms };
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

/** Latency (ms) at each quantile, both arrays of the same length, quantiles rising. Part of the JSON output. */
export interface Distribution {
  readonly quantile: number[];
  readonly ms: number[];
}

function roundQuantile(q: number): number {
  return Math.round(q * 1e9) / 1e9;
}

function usToMs(us: number): number {
  return Math.round(us) / 1000;
}
