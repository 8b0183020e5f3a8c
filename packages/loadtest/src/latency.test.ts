import { describe, expect, it } from "vitest";
import { LatencyRecorder } from "./latency.js";

describe("LatencyRecorder", () => {
  it("reports percentiles in milliseconds with three significant digits", () => {
    const r = new LatencyRecorder();
    for (let i = 1; i <= 1000; i++) r.recordMs(i / 10); // 0.1 … 100 ms
    const s = r.summary();
    expect(s.count).toBe(1000);
    expect(s.min).toBe(0.1);
    expect(s.p50).toBeCloseTo(50, 0);
    expect(s.p90).toBeCloseTo(90, 0);
    expect(s.p99).toBeCloseTo(99, 0);
    expect(s.max).toBeCloseTo(100, 0);
    expect(s.mean).toBeCloseTo(50.05, 1);
  });

  it("never reports a percentile above the maximum", () => {
    const r = new LatencyRecorder();
    for (let i = 0; i < 999; i++) r.recordMs(1);
    r.recordMs(331.629);
    const s = r.summary();
    expect(s.max).toBe(331.629);
    expect(s.p99_9).toBeLessThanOrEqual(s.max);
  });

  it("is all zeros when empty, and records sub-microsecond values as 1 µs", () => {
    expect(new LatencyRecorder().summary()).toEqual({
      count: 0,
      min: 0,
      mean: 0,
      p50: 0,
      p90: 0,
      p99: 0,
      p99_9: 0,
      max: 0,
      stdev: 0,
    });
    const r = new LatencyRecorder();
    r.recordMs(0);
    expect(r.summary().max).toBe(0.001);
  });
});
