import { describe, expect, it } from "vitest";
import { parseDuration, parsePositiveInt, parsePositiveNumber } from "./options.js";

describe("command-line values", () => {
  it("parses durations", () => {
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("10")).toBe(10_000);
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
