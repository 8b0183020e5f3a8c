import { afterEach, describe, expect, it, vi } from "vitest";
import { Backoff, backoffDelay } from "./backoff.js";
import { pause } from "./pause.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("backoffDelay", () => {
  it("doubles up to the ceiling, with jitter down to half", () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const ms = backoffDelay(attempt, { baseMs: 100, maxMs: 5_000 });
      const full = Math.min(5_000, 100 * 2 ** attempt);
      expect(ms).toBeGreaterThanOrEqual(full / 2);
      expect(ms).toBeLessThanOrEqual(full);
    }
  });

  it("doubles from the base up to the cap", () => {
    const steps = [0, 1, 2, 3, 4, 10, 100].map((a) => backoffDelay(a, { baseMs: 100, maxMs: 1_000, jitter: "none" }));
    expect(steps).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
  });

  it("half jitter stays between half and all of the step; full jitter between 0 and the step", () => {
    vi.spyOn(Math, "random").mockReturnValueOnce(0).mockReturnValueOnce(0.999999).mockReturnValueOnce(0);
    expect(backoffDelay(2, { baseMs: 100, maxMs: 1_000 })).toBe(200);
    expect(backoffDelay(2, { baseMs: 100, maxMs: 1_000 })).toBeCloseTo(400, 2);
    expect(backoffDelay(2, { baseMs: 100, maxMs: 1_000, jitter: "full" })).toBe(0);
  });
});

describe("Backoff", () => {
  it("counts attempts and starts over on reset", () => {
    const backoff = new Backoff({ baseMs: 10, maxMs: 1_000, jitter: "none" });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([10, 20, 40]);
    backoff.reset();
    expect(backoff.next()).toBe(10);
  });
});

describe("pause", () => {
  it("waits the time given", async () => {
    const started = performance.now();
    await pause(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it("ends early, without throwing, when the signal aborts", async () => {
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(new Error("stop")), 10);
    await pause(10_000, controller.signal);
    expect(performance.now() - started).toBeLessThan(5_000);
    await pause(10_000, controller.signal);
  });
});
