import { describe, expect, it } from "vitest";
import { covered, EventLogGapError, followOn } from "./retired-gaps.js";

const at = (...positions: number[]) => positions.map((position) => ({ position }));
const ranges =
  (...list: { first: number; last: number }[]) =>
  async (after: number, upTo: number) =>
    list.filter((r) => r.last > after && r.first <= upTo);

describe("covered", () => {
  it("is true only when the ranges leave no position out", () => {
    const list = [
      { first: 5, last: 9 },
      { first: 10, last: 12 },
      { first: 20, last: 30 },
    ];
    expect(covered(list, 5, 12)).toBe(true);
    expect(covered(list, 7, 11)).toBe(true);
    expect(covered(list, 12, 13)).toBe(false);
    expect(covered(list, 21, 30)).toBe(true);
    expect(covered(list, 4, 6)).toBe(false);
    expect(covered([], 3, 2)).toBe(true); // an empty span
  });
});

describe("followOn", () => {
  it("passes consecutive pages without asking for retired ranges", async () => {
    let asked = 0;
    const lookup = async () => {
      asked++;
      return [];
    };
    expect(await followOn(at(4, 5, 6), 3, 10, false, lookup)).toEqual({ events: at(4, 5, 6), reached: 6 });
    expect(asked).toBe(0);
  });

  it("steps over a retired range inside a page and at its end", async () => {
    const lookup = ranges({ first: 6, last: 8 }, { first: 11, last: 15 });
    expect(await followOn(at(4, 5, 9, 10), 3, 15, true, lookup)).toEqual({ events: at(4, 5, 9, 10), reached: 15 });
    // Events past `upTo` are left for later; the page counts as exhausted up to `upTo`.
    expect(await followOn(at(9, 10, 16), 8, 12, false, ranges({ first: 11, last: 15 }))).toEqual({
      events: at(9, 10),
      reached: 12,
    });
  });

  it("stops at a hole nobody retired, and at a short page that ends before `upTo`", async () => {
    await expect(followOn(at(4, 7), 3, 10, false, ranges({ first: 5, last: 5 }))).rejects.toThrow(EventLogGapError);
    await expect(followOn(at(4, 5), 3, 10, true, ranges())).rejects.toThrow(/nothing after 5 \(expected up to 10\)/);
    await expect(followOn(at(4, 7), 3, 10, false, undefined)).rejects.toThrow(/positions 5\.\.6 hold no event/);
    // A full page that ends before `upTo` is not judged: the next page continues it.
    expect(await followOn(at(4, 5), 3, 10, false, ranges())).toEqual({ events: at(4, 5), reached: 5 });
  });

  it("refuses positions that go backwards or repeat", async () => {
    await expect(followOn(at(4, 4), 3, 10, false, ranges())).rejects.toThrow(/position 4 after 4/);
  });
});
