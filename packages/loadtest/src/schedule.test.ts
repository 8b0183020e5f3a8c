import { describe, expect, it } from "vitest";
import { OpenLoopSchedule } from "./schedule.js";

describe("OpenLoopSchedule", () => {
  it("spaces intended send times evenly from the start", () => {
    const s = new OpenLoopSchedule(200, 1000, { count: 10 });
    expect(s.intervalMs).toBe(5);
    expect([0, 1, 2, 9].map((i) => s.intendedAt(i))).toEqual([1000, 1005, 1010, 1045]);
  });

  it("counts calls due by a time, including the one exactly due, never more than the total", () => {
    const s = new OpenLoopSchedule(200, 1000, { count: 10 });
    expect(s.dueBy(999.9)).toBe(0);
    expect(s.dueBy(1000)).toBe(1);
    expect(s.dueBy(1004.99)).toBe(1);
    expect(s.dueBy(1005)).toBe(2);
    expect(s.dueBy(1049)).toBe(10);
    expect(s.dueBy(5000)).toBe(10);
  });

  it("is exact at rates whose interval is not representable (1/3 ms)", () => {
    const s = new OpenLoopSchedule(3000, 0, { count: 1_000_000 });
    expect(s.dueBy(1000)).toBe(3001); // calls at 0, 1/3, …, 1000 ms
    expect(s.dueBy(10_000)).toBe(30_001);
  });

  it("derives the call count of a duration run (calls strictly inside the window)", () => {
    expect(new OpenLoopSchedule(100, 0, { durationMs: 1000 }).total).toBe(100);
    expect(new OpenLoopSchedule(2.5, 0, { durationMs: 1000 }).total).toBe(3);
    expect(new OpenLoopSchedule(3, 0, { durationMs: 1000 }).total).toBe(3);
    expect(new OpenLoopSchedule(1000, 0, { durationMs: 60_000 }).total).toBe(60_000);
  });

  it("tells the delay until the next call and whether a send is late", () => {
    const s = new OpenLoopSchedule(100, 0, { count: 5 }, 5);
    expect(s.delayUntil(1, 4)).toBe(6);
    expect(s.delayUntil(1, 12)).toBe(0);
    expect(s.isLate(10, 15)).toBe(false);
    expect(s.isLate(10, 15.01)).toBe(true);
  });

  it("drops unsent calls only after the duration (plus the late threshold), never in a count run", () => {
    const d = new OpenLoopSchedule(100, 0, { durationMs: 1000 }, 5);
    expect(d.shouldDrop(1004)).toBe(false);
    expect(d.shouldDrop(1006)).toBe(true);
    expect(new OpenLoopSchedule(100, 0, { count: 5 }).shouldDrop(1e12)).toBe(false);
  });

  it("rejects a rate that is not a positive number", () => {
    expect(() => new OpenLoopSchedule(0, 0, { count: 1 })).toThrow(/positive/);
    expect(() => new OpenLoopSchedule(Number.NaN, 0, { count: 1 })).toThrow(/positive/);
  });
});
