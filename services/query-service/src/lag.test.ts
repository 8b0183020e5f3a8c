import { describe, expect, it } from "vitest";
import { type CommitTimes, LagClock } from "./lag.js";
import { VisibilityRecorder } from "./visibility.js";

class CountingCommitTimes implements CommitTimes {
  readonly commits = new Map<number, Date>();
  queries = 0;
  async committedAt(positions: readonly number[]): Promise<Map<number, Date>> {
    this.queries++;
    const result = new Map<number, Date>();
    for (const p of positions) {
      const at = this.commits.get(p);
      if (at) result.set(p, at);
    }
    return result;
  }
}

describe("LagClock", () => {
  it("is now − committed_at of the event after the checkpoint, and grows while the checkpoint stays", async () => {
    let now = 1_000_000;
    const times = new CountingCommitTimes();
    times.commits.set(11, new Date(now - 2_500));
    const lag = new LagClock(times, { now: () => now });
    expect(await lag.lagSeconds(10)).toBe(2.5);
    now += 1_000;
    expect(await lag.lagSeconds(10)).toBe(3.5);
    expect(times.queries).toBe(1); // a commit time never changes: looked up once
  });

  it("is 0 when no event follows, believing that only briefly", async () => {
    let now = 1_000_000;
    const times = new CountingCommitTimes();
    const lag = new LagClock(times, { now: () => now, cacheMs: 100 });
    expect(await lag.lagSeconds(10)).toBe(0);
    times.commits.set(11, new Date(now - 50));
    expect(await lag.lagSeconds(10)).toBe(0); // still cached
    now += 101;
    expect(await lag.lagSeconds(10)).toBeCloseTo(0.151, 6);
    expect(times.queries).toBe(2);
  });

  it("shares one lookup among concurrent callers", async () => {
    const times = new CountingCommitTimes();
    const lag = new LagClock(times);
    await Promise.all(Array.from({ length: 50 }, () => lag.lagSeconds(3)));
    expect(times.queries).toBe(1);
  });
});

describe("VisibilityRecorder", () => {
  it("observes commit-to-visible seconds for each sample, with one lookup per flush", async () => {
    const times = new CountingCommitTimes();
    times.commits.set(5, new Date(10_000));
    times.commits.set(6, new Date(10_020));
    const seen: [string, number][] = [];
    const recorder = new VisibilityRecorder({
      commitTimes: times,
      observe: (model, seconds) => seen.push([model, seconds]),
      flushIntervalMs: 10_000,
    });
    recorder.record("order_summaries", 5, 10_007);
    recorder.record("customer_orders", 6, 10_030);
    recorder.record("order_summaries", 99, 10_030); // unknown position: skipped
    await recorder.close();
    expect(seen).toEqual([
      ["order_summaries", 0.007],
      ["customer_orders", 0.01],
    ]);
    expect(times.queries).toBe(1);
  });

  it("drops samples beyond its bound and survives a failing lookup", async () => {
    const errors: unknown[] = [];
    const recorder = new VisibilityRecorder({
      commitTimes: { committedAt: () => Promise.reject(new Error("down")) },
      observe: () => {},
      maxPending: 2,
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 5; i++) recorder.record("order_summaries", i);
    await recorder.close();
    expect(errors).toHaveLength(1);
  });
});
