import { describe, expect, it } from "vitest";
import { LatencyRecorder } from "./latency.js";
import { PerSecondRecorder } from "./series.js";

describe("PerSecondRecorder", () => {
  it("buckets replies by the second they arrive in, with empty seconds in between", () => {
    const r = new PerSecondRecorder(1000);
    r.record(1000, 1, false);
    r.record(1999.9, 3, true);
    r.record(2000, 10, false);
    r.record(4500, 2, false);
    r.record(4600, undefined, true); // counted, not timed
    const s = r.finish(5);
    expect(s.count).toEqual([2, 1, 0, 2, 0]);
    expect(s.errors).toEqual([1, 0, 0, 1, 0]);
    expect(s.p50_ms).toEqual([1, 10, null, 2, null]);
    expect(s.max_ms).toEqual([3, 10, null, 2, null]);
    expect(s.p99_ms[0]).toBe(3);
    // the whole-run histogram is the sum of the seconds
    expect(r.total.count).toBe(4);
    expect(r.total.summary()).toMatchObject({ min: 1, max: 10 });
  });

  it("keeps the largest gauge value seen in each second", () => {
    const r = new PerSecondRecorder(0);
    r.observePeak(10, 0.2);
    r.observePeak(20, 0.1);
    r.observePeak(2500, 0.4);
    expect(r.finish(3).peak).toEqual([0.2, null, 0.4]);
  });

  it("gives one interval for a run shorter than a second", () => {
    const r = new PerSecondRecorder(0);
    expect(r.finish(1)).toMatchObject({ count: [0], p50_ms: [null] });
  });
});

describe("LatencyRecorder.distribution", () => {
  it("steps towards 1 by halvings, four points each, and ends at the maximum", () => {
    const r = new LatencyRecorder();
    for (let i = 1; i <= 1000; i++) r.recordMs(i);
    const d = r.distribution();
    expect(d.quantile[0]).toBe(0);
    expect(d.quantile[4]).toBe(0.5);
    expect(d.quantile[8]).toBe(0.75);
    expect(d.quantile.at(-1)).toBe(0.999);
    expect(d.ms.at(-1)).toBe(1000);
    expect(d.ms[0]).toBe(1);
    expect(d.ms[4]).toBeCloseTo(500, -1);
    // rising, and no quantile closer to 1 than one sample can stand for
    for (let i = 1; i < d.ms.length; i++) {
      expect(d.quantile[i]).toBeGreaterThan(d.quantile[i - 1] ?? 1);
      expect(d.ms[i]).toBeGreaterThanOrEqual(d.ms[i - 1] ?? Infinity);
    }
    expect(d.quantile.length).toBeLessThan(50);
  });

  it("is empty without samples, and one point for one sample", () => {
    expect(new LatencyRecorder().distribution()).toEqual({ quantile: [], ms: [] });
    const one = new LatencyRecorder();
    one.recordMs(7);
    expect(one.distribution()).toEqual({ quantile: [0], ms: [7] });
  });
});
