/** Parsing of command-line values (pure, unit-tested). */

/** `250ms`, `30s`, `2m`, `1h`, `1.5s`; a bare number is seconds. Returns milliseconds. */
export function parseDuration(text: string, name = "duration"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) throw new Error(`bad ${name} "${text}": expected e.g. 500ms, 30s, 2m`);
  const value = Number(match[1]);
  switch (match[2]) {
    case "ms":
      return value;
    case "m":
      return value * 60_000;
    case "h":
      return value * 3_600_000;
    default:
      return value * 1000;
  }
}

/** A positive integer (`1000`, `10_000`, `10k`). */
export function parsePositiveInt(text: string, name: string): number {
  const match = /^\s*(\d[\d_]*)(k)?\s*$/i.exec(text);
  const value = match ? Number((match[1] ?? "").replaceAll("_", "")) * (match[2] ? 1000 : 1) : Number.NaN;
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`bad ${name} "${text}": expected a positive integer`);
  return value;
}

/** A positive number (rates may be fractional: `0.5` calls/s). */
export function parsePositiveNumber(text: string, name: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)(k)?\s*$/i.exec(text);
  const value = match ? Number(match[1]) * (match[2] ? 1000 : 1) : Number.NaN;
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`bad ${name} "${text}": expected a positive number`);
  return value;
}
