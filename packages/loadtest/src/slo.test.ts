import { describe, expect, it } from "vitest";
import { evaluateSlo, parseSlo, type SloFigures } from "./slo.js";

const figures: SloFigures = {
  latencyMs: { p50: 2, p90: 5, p99: 20, "p99.9": 40, max: 90, mean: 3 },
  rywLatencyMs: { p50: 4, p90: 8, p99: 30, "p99.9": 45, max: 60 },
  calls: 10_000,
  errors: 5,
  intended: 10_000,
  dropped: 0,
  rps: 1234.5,
  maxLagSeconds: 0.2,
};

describe("parseSlo", () => {
  it.each([
    // latencies with units, in milliseconds
    ["p99<25ms", "p99", "<", 25, "absolute"],
    ["p50<=2000us", "p50", "<=", 2, "absolute"],
    ["max<1s", "max", "<", 1000, "absolute"],
    ["p99.9<40", "p99.9", "<", 40, "absolute"],
    // error and drop rates as ratios or counts, rps and lag
    ["errors<0.1%", "errors", "<", 0.001, "ratio"],
    ["dropped<=3", "dropped", "<=", 3, "absolute"],
    ["rps>=1000", "rps", ">=", 1000, "absolute"],
    ["lag<1s", "lag", "<", 1, "absolute"],
    ["ryw_p99<50ms", "ryw_p99", "<", 50, "absolute"],
  ])("parses %s", (expr, metric, op, threshold, kind) => {
    expect(parseSlo(expr)).toEqual([{ expr, metric, op, threshold, kind }]);
  });

  it("parses a comma-separated list entry by entry, in order, spaces around entries ignored", () => {
    for (const list of [
      "p99<25ms,p50<=2000us,max<1s,p99.9<40",
      " errors<0.1% , dropped<=3, rps>=1000, lag<1s, ryw_p99<50ms",
    ]) {
      const entries = list.split(",").map((e) => e.trim());
      expect(parseSlo(list)).toEqual(entries.flatMap((e) => parseSlo(e)));
      expect(parseSlo(list).map((c) => c.expr)).toEqual(entries);
    }
  });

  it("accepts p999 as p99.9 and lag without a unit as seconds", () => {
    expect(parseSlo("p999<9ms")[0]?.metric).toBe("p99.9");
    expect(parseSlo("lag<2")[0]?.threshold).toBe(2);
    expect(parseSlo("lag<500ms")[0]?.threshold).toBe(0.5);
  });

  it.each([
    ["p98<1ms", /unknown metric "p98"/],
    ["p99=25ms", /expected <metric><op>/],
    ["p99<25%", /time unit/],
    ["errors<5ms", /count or a percentage/],
    ["rps>10ms", /no unit/],
    ["latency", /expected/],
  ])("rejects %s", (text, message) => {
    expect(() => parseSlo(text)).toThrow(message);
  });
});

describe("evaluateSlo", () => {
  it("compares each figure with its threshold", () => {
    const results = evaluateSlo(
      parseSlo(
        "p99<25ms,p99<20ms,p99<=20ms,errors<0.1%,errors<0.01%,errors<=5,rps>1000,rps>2000,ryw_p99<50ms,lag<0.1s",
      ),
      figures,
    );
    expect(results.map((r) => [r.expr, r.actual, r.passed])).toEqual([
      ["p99<25ms", 20, true],
      ["p99<20ms", 20, false],
      ["p99<=20ms", 20, true],
      ["errors<0.1%", 0.0005, true],
      ["errors<0.01%", 0.0005, false],
      ["errors<=5", 5, true],
      ["rps>1000", 1234.5, true],
      ["rps>2000", 1234.5, false],
      ["ryw_p99<50ms", 30, true],
      ["lag<0.1s", 0.2, false],
    ]);
  });

  it("fails a check whose figure was not measured", () => {
    const [result] = evaluateSlo(parseSlo("ryw_p99<50ms"), { ...figures, rywLatencyMs: undefined });
    expect(result).toMatchObject({ actual: undefined, passed: false });
  });

  it("treats a run without calls as 0% errors", () => {
    const [result] = evaluateSlo(parseSlo("errors<1%"), { ...figures, calls: 0, errors: 0 });
    expect(result).toMatchObject({ actual: 0, passed: true });
  });
});
