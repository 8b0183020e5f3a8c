import { describe, expect, it } from "vitest";
import { CallerRateLimiter, callerKey, parseRate, StreamCounter } from "./rate-limit.js";

describe("CallerRateLimiter", () => {
  it("lets a burst through, then one call per refill interval, with the wait as the hint", () => {
    const limiter = new CallerRateLimiter({ ratePerSecond: 10, burst: 3 });
    expect([0, 1, 2].map(() => limiter.take("a", 0))).toEqual([0, 0, 0]);
    expect(limiter.take("a", 0)).toBe(100); // 10/s: the next token in 100 ms
    expect(limiter.take("a", 60)).toBe(40);
    expect(limiter.take("a", 100)).toBe(0);
    expect(limiter.take("b", 100)).toBe(0); // callers are apart
    // Idle callers refill only up to the burst.
    expect([0, 1, 2, 3].map(() => limiter.take("a", 60_000))).toEqual([0, 0, 0, 100]);
  });

  it("holds at most maxCallers buckets", () => {
    const limiter = new CallerRateLimiter({ ratePerSecond: 1, burst: 1, maxCallers: 100 });
    for (let i = 0; i < 1_000; i++) limiter.take(`c-${i}`, 0);
    expect(limiter.callers).toBe(100);
  });
});

describe("StreamCounter", () => {
  it("caps open streams per caller and counts closes", () => {
    const streams = new StreamCounter(2);
    expect([streams.open("a"), streams.open("a"), streams.open("a"), streams.open("b")]).toEqual([
      true,
      true,
      false,
      true,
    ]);
    streams.close("a");
    expect(streams.open("a")).toBe(true);
  });
});

describe("parseRate and callerKey", () => {
  it("reads per-second and per-minute rates", () => {
    expect(parseRate("500/s")).toBe(500);
    expect(parseRate("600/min")).toBe(10);
    expect(parseRate(" 2.5 / second ")).toBe(2.5);
    for (const bad of ["500", "0/s", "-1/s", "5/h", "x/s", ""]) expect(parseRate(bad)).toBeUndefined();
  });

  it("keys by subject, else by address without the port", () => {
    expect(callerKey("svc-checkout", "127.0.0.1:5000")).toBe("sub:svc-checkout");
    expect(callerKey(undefined, "127.0.0.1:5000")).toBe("addr:127.0.0.1");
    expect(callerKey(undefined, "[::1]:5000")).toBe("addr:[::1]");
  });
});
