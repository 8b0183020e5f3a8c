import { describe, expect, it } from "vitest";
import { parseDuration, parsePositiveInt, parsePositiveNumber } from "./options.js";

describe("command-line values", () => {
  it("parses durations, a bare number as seconds, and rejects what is not one", () => {
    const durations = { "250ms": 250, "30s": 30_000, "1.5s": 1500, "2m": 120_000, "10": 10_000 };
    expect(Object.fromEntries(Object.keys(durations).map((text) => [text, parseDuration(text)]))).toEqual(durations);
    expect(() => parseDuration("ten seconds")).toThrow(/bad duration/);
  });

  it("parses counts and rates", () => {
    expect(parsePositiveInt("10_000", "count")).toBe(10_000);
    expect(parsePositiveInt("5k", "count")).toBe(5000);
    expect(() => parsePositiveInt("0", "count")).toThrow(/positive integer/);
    expect(() => parsePositiveInt("1.5", "count")).toThrow(/positive integer/);
    expect(parsePositiveNumber("0.5", "rate")).toBe(0.5);
    expect(parsePositiveNumber("2k", "rate")).toBe(2000);
    expect(() => parsePositiveNumber("-1", "rate")).toThrow(/positive number/);
  });
});
