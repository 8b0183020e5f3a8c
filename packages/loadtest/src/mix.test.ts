import { describe, expect, it } from "vitest";
import { type CallKind, createRng, makeMix, parseMixWeights, parseRate, pickKind } from "./mix.js";

const all = { placed: true, paid: true, replayable: true };

describe("mix parsing", () => {
  it("reads weights and rates", () => {
    expect(parseMixWeights("create=40,pay=35,ship=20,cancel=5")).toEqual({ create: 40, pay: 35, ship: 20, cancel: 5 });
    expect(parseMixWeights("create=1")).toEqual({ create: 1, pay: 0, ship: 0, cancel: 0 });
    expect(parseRate("2%", "r")).toBe(0.02);
    expect(parseRate("0.25", "r")).toBe(0.25);
  });

  it("rejects what it cannot use", () => {
    expect(() => parseMixWeights("pay=1")).toThrow(/create > 0/);
    expect(() => parseMixWeights("create=1,refund=2")).toThrow(/bad mix entry/);
    expect(() => parseRate("150%", "r")).toThrow(/between 0 and 1/);
    expect(() => parseRate("often", "r")).toThrow(/fraction/);
    expect(() => makeMix({ create: 1, pay: 0, ship: 0, cancel: 0 }, 0.6, 0.5)).toThrow(/must not exceed 1/);
  });
});

describe("pickKind", () => {
  const mix = makeMix({ create: 40, pay: 30, ship: 20, cancel: 10 }, 0.1, 0.1);

  it("maps the unit interval onto duplicates, conflicts, then the weighted commands", () => {
    const at = (u: number) => pickKind(mix, u, all);
    expect([at(0), at(0.0999), at(0.1), at(0.1999)]).toEqual(["duplicate", "duplicate", "conflict", "conflict"]);
    // The remaining 0.8 is split 40/30/20/10.
    expect([at(0.2), at(0.5199), at(0.521), at(0.7599), at(0.761), at(0.9199), at(0.921), at(0.9999)]).toEqual([
      "create",
      "create",
      "pay",
      "pay",
      "ship",
      "ship",
      "cancel",
      "cancel",
    ]);
  });

  it("falls back to create when the picked kind has nothing to act on", () => {
    const none = { placed: false, paid: false, replayable: false };
    for (const u of [0.05, 0.15, 0.6, 0.8, 0.95]) expect(pickKind(mix, u, none)).toBe("create");
    expect(pickKind(mix, 0.8, { placed: true, paid: false, replayable: false })).toBe("create"); // ship needs paid
    expect(pickKind(mix, 0.6, { placed: false, paid: true, replayable: false })).toBe("create"); // pay needs placed
    expect(pickKind(mix, 0.95, { placed: false, paid: true, replayable: false })).toBe("cancel");
  });

  it("draws kinds in proportion to the mix over many calls", () => {
    const rng = createRng(42);
    const counts: Record<string, number> = {};
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const k = pickKind(mix, rng(), all);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    const share = (k: CallKind) => (counts[k] ?? 0) / n;
    expect(share("duplicate")).toBeCloseTo(0.1, 2);
    expect(share("conflict")).toBeCloseTo(0.1, 2);
    expect(share("create")).toBeCloseTo(0.32, 2);
    expect(share("pay")).toBeCloseTo(0.24, 2);
    expect(share("ship")).toBeCloseTo(0.16, 2);
    expect(share("cancel")).toBeCloseTo(0.08, 2);
  });

  it("is reproducible for a seed", () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const seqA = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(seqA);
    expect([c(), c(), c()]).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});
