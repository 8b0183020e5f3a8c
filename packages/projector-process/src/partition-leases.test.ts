import { describe, expect, it } from "vitest";
import { shareOf } from "./partition-leases.js";

describe("shareOf", () => {
  it("splits the partitions evenly over the members, the lowest pids taking the remainder", () => {
    expect([10, 20].map((me) => shareOf([10, 20], me, 4))).toEqual([2, 2]);
    expect([10, 20, 30].map((me) => shareOf([10, 20, 30], me, 4))).toEqual([2, 1, 1]);
    expect([10, 20, 30, 40, 50].map((me) => shareOf([10, 20, 30, 40, 50], me, 4))).toEqual([1, 1, 1, 1, 0]);
  });

  it("gives a lone member every partition (a takeover), and every share adds up to the count", () => {
    expect(shareOf([10], 10, 4)).toBe(4);
    expect(shareOf([], 10, 4)).toBe(4);
    for (let members = 1; members <= 9; members++) {
      const pids = Array.from({ length: members }, (_, i) => 100 + i);
      for (const n of [1, 2, 4, 7, 16]) {
        expect(pids.reduce((sum, me) => sum + shareOf(pids, me, n), 0)).toBe(n);
      }
    }
  });
});
