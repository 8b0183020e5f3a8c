/** A tick on an axis: its value and the text printed beside it. */
export interface Tick {
  readonly value: number;
  readonly label: string;
}

/** Maps data values onto a pixel range; `ticks` are the gridlines, inside the domain. */
export interface Scale {
  readonly domain: readonly [number, number];
  readonly log: boolean;
  readonly ticks: readonly Tick[];
  (value: number): number;
}

export interface ScaleOptions {
  /** Values to cover; non-finite ones (and non-positive ones on a log scale) are ignored. */
  readonly values: readonly number[];
  /** Pixel range: the domain's low end maps to `from`, its high end to `to` (to < from for a y axis). */
  readonly from: number;
  readonly to: number;
  readonly log?: boolean;
  /** Forces an end of the domain (a linear throughput axis starts at 0 whatever the data). */
  readonly min?: number;
  readonly max?: number;
  /** Explicit ticks instead of computed ones (values outside the domain are dropped). */
  readonly ticks?: readonly Tick[];
  readonly format?: (value: number) => string;
  /** Roughly how many ticks a linear axis gets. */
  readonly tickCount?: number;
}

/**
 * A linear scale rounded outwards to "nice" ticks (1, 2, 2.5, 5 × 10^k), or a log10 scale rounded out to whole
 * decades (ticks at each power of ten, plus 2 and 5 when it spans less than two decades).
 */
export function makeScale(o: ScaleOptions): Scale {
  const format = o.format ?? formatNumber;
  const log = o.log === true;
  const finite = o.values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = o.min ?? (finite.length > 0 ? Math.min(...finite) : log ? 1 : 0);
  let hi = o.max ?? (finite.length > 0 ? Math.max(...finite) : log ? 10 : 1);
  if (o.min === undefined && o.max !== undefined && lo > hi) lo = log ? hi / 10 : hi - 1;
  if (o.max === undefined && o.min !== undefined && hi < lo) hi = log ? lo * 10 : lo + 1;
  let ticks: Tick[];
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi <= lo) hi = lo * 10;
    ticks = [];
    const decades = Math.round(Math.log10(hi / lo));
    const steps = decades <= 2 ? [1, 2, 5] : [1];
    for (let d = Math.round(Math.log10(lo)); d <= Math.round(Math.log10(hi)); d++) {
      for (const s of steps) {
        const value = s * 10 ** d;
        if (value >= lo * (1 - 1e-9) && value <= hi * (1 + 1e-9)) ticks.push({ value, label: format(value) });
      }
    }
  } else {
    if (hi === lo) {
      if (o.max === undefined) hi = lo === 0 ? 1 : lo + Math.abs(lo) * 0.5;
      else lo = hi - 1;
    }
    const step = niceStep((hi - lo) / Math.max(1, o.tickCount ?? 5));
    if (o.min === undefined) lo = Math.floor(lo / step + 1e-9) * step;
    if (o.max === undefined) hi = Math.ceil(hi / step - 1e-9) * step;
    ticks = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
      const value = roundTo(v, step);
      ticks.push({ value, label: format(value) });
    }
  }
  if (o.ticks) ticks = o.ticks.filter((t) => t.value >= lo * (1 - 1e-9) && t.value <= hi * (1 + 1e-9));
  const l0 = log ? Math.log10(lo) : lo;
  const l1 = log ? Math.log10(hi) : hi;
  const span = l1 - l0 || 1;
  const scale = (value: number): number => {
    const v = log ? Math.log10(Math.max(value, lo / 1e6)) : value;
    return o.from + ((v - l0) / span) * (o.to - o.from);
  };
  return Object.assign(scale, { domain: [lo, hi] as const, log, ticks });
}

/** The nice step (1, 2, 2.5 or 5 × 10^k) at or above a raw step. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * power;
}

function roundTo(value: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 2);
  return Number(value.toFixed(Math.min(12, digits)));
}

/** 1,234 · 12.5 · 0.25 · 0.001: at most three significant digits below 1,000, thousands separated above. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs === 0) return "0";
  return String(Number(value.toPrecision(3)));
}

/**
 * Gridlines of an HDR percentile axis, whose x is 1 / (1 − quantile): 0% at 1, 50% at 2, then 90%, 99%, 99.9%, … at
 * each power of ten up to `maxNines` nines (10^maxNines).
 */
export function percentileTicks(maxNines: number): Tick[] {
  const ticks: Tick[] = [
    { value: 1, label: "0%" },
    { value: 2, label: "50%" },
  ];
  for (let n = 1; n <= maxNines; n++) {
    ticks.push({ value: 10 ** n, label: n === 1 ? "90%" : `99${n > 2 ? `.${"9".repeat(n - 2)}` : ""}%` });
  }
  return ticks;
}
