/**
 * The optimistic-concurrency condition of an append:
 * - `"any"`: append whatever the stream's version;
 * - `"no_stream"`: the stream must not exist yet;
 * - a number n >= 1: the stream's current version must be exactly n.
 */
export type ExpectedVersion = "any" | "no_stream" | number;

export function describeExpectedVersion(expected: ExpectedVersion): string {
  return typeof expected === "number" ? `version ${expected}` : expected;
}
