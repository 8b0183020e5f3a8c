import { describe, expect, it } from "vitest";
import type { LatencySummary } from "./latency.js";
import { fmtMs, formatProgress, formatText, type Report } from "./report.js";

const lat = (p50: number, p99: number): LatencySummary => ({
  count: 100,
  min: 0.5,
  mean: p50,
  p50,
  p90: p50 * 2,
  p99,
  p99_9: p99 * 2,
  max: p99 * 3,
  stdev: 1,
});
const kind = (count: number, errors = 0) => ({ count, errors, latency_ms: lat(1, 5) });

const report: Report = {
  tool: "orderly-loadtest",
  schema_version: 1,
  command: "pnpm loadtest --rate 1000 -d 10s",
  started_at: "2026-11-26T06:00:00.000Z",
  options: {
    mode: "open",
    address: "127.0.0.1:50051",
    rate: 1000,
    concurrency: null,
    duration_s: 10,
    count: null,
    timeout_ms: 20000,
    grpc_deadline: false,
    max_in_flight: 1000,
    connections: 1,
    mix: { create: 40, pay: 35, ship: 20, cancel: 5 },
    duplicate_rate: 0.02,
    conflict_rate: 0.01,
    ryw_rate: 0.1,
    query_address: "127.0.0.1:50052",
    seed: 1,
  },
  elapsed_s: 10.002,
  total: 10_000,
  ok: 9_998,
  rps: 999.8,
  latency_ms: lat(1.234, 12.5),
  status_codes: { OK: 9_900, ABORTED: 98, UNAVAILABLE: 2 },
  by_kind: {
    create: kind(4000, 2),
    pay: kind(3500),
    ship: kind(2000),
    cancel: kind(300),
    duplicate: kind(100),
    conflict: kind(100),
  },
  errors: 2,
  error_rate: 0.0002,
  error_messages: [{ message: "create: UNAVAILABLE: store down", count: 2 }],
  schedule: {
    target_rate: 1000,
    intended: 10_000,
    sent: 10_000,
    late: 3,
    dropped: 0,
    late_threshold_ms: 5,
    send_delay_ms: lat(0.2, 1.1),
  },
  ryw: {
    checks: 1000,
    ok: 1000,
    failed: 0,
    status_codes: { OK: 1000 },
    latency_ms: lat(4, 20),
    max_lag_seconds: 0.05,
    error_messages: [],
  },
  generator: {
    cpu_user_s: 1.5,
    cpu_system_s: 0.25,
    cpu_percent: 17.5,
    cpu_per_call_us: 159.1,
    calls: 11_000,
    saturated: false,
    saturation_reasons: [],
  },
  slo: {
    passed: false,
    checks: [
      { expr: "p99<25ms", metric: "p99", op: "<", threshold: 25, kind: "absolute", actual: 12.5, passed: true },
      {
        expr: "errors<0.01%",
        metric: "errors",
        op: "<",
        threshold: 0.0001,
        kind: "ratio",
        actual: 0.0002,
        passed: false,
      },
    ],
  },
};

describe("formatText", () => {
  const text = formatText(report);

  it("prints the summary, the percentiles and the rate like ghz", () => {
    expect(text).toContain("Mode:          open loop at 1,000 calls/s (latency from intended send time)");
    expect(text).toContain("Count:         10,000");
    expect(text).toContain("Requests/sec:  999.8");
    expect(text).toMatch(/p50\s+1\.23 ms/);
    expect(text).toMatch(/p99\s+12\.50 ms/);
    expect(text).toMatch(/p99\.9\s+25\.00 ms/);
    expect(text).toMatch(/max\s+37\.50 ms/);
  });

  it("lists status codes, errors, the schedule, read-your-writes, generator CPU and SLO results", () => {
    expect(text).toMatch(/\[OK\]\s+9,900 responses/);
    expect(text).toMatch(/\[ABORTED\]\s+98 responses/);
    expect(text).toContain("Errors: 2 (0.0200%)");
    expect(text).toContain("[2]  create: UNAVAILABLE: store down");
    expect(text).toContain("late 3 (> 5 ms), dropped 0");
    expect(text).toContain("Read-your-writes: 1,000 checks, 1,000 ok, 0 failed");
    expect(text).toContain("command-to-visible p50 4.00 ms");
    expect(text).toContain("Generator: CPU 17.5% of one core");
    expect(text).toContain("159.1 µs per call");
    expect(text).toContain("SLO: MISSED");
    expect(text).toMatch(/ok {3}p99<25ms\s+actual 12\.50 ms/);
    expect(text).toMatch(/FAIL errors<0\.01%\s+actual 0\.0200%/);
    expect(text).not.toContain("WARNING");
  });

  it("warns when the generator may be the limit, and omits absent sections", () => {
    const closed = formatText({
      ...report,
      options: { ...report.options, mode: "closed", rate: null, concurrency: 64 },
      schedule: null,
      ryw: null,
      slo: null,
      generator: { ...report.generator, saturated: true, saturation_reasons: ["generator CPU 97% of one core"] },
    });
    expect(closed).toContain("closed loop, 64 concurrent");
    expect(closed).toContain("WARNING: the generator may be the limit here: generator CPU 97% of one core");
    expect(closed).not.toContain("Schedule:");
    expect(closed).not.toContain("Read-your-writes");
    expect(closed).not.toContain("SLO:");
  });
});

describe("formatProgress", () => {
  it("draws a bar with the fraction done and the live figures", () => {
    const line = formatProgress(
      { elapsedMs: 12_345, fraction: 0.5, completed: 61_234, inFlight: 12, errors: 0, rps: 4960.6 },
      10,
    );
    expect(line).toBe("[=====>    ]  50%  12.3 s  4,961 rps  61,234 done  in flight 12  errors 0");
    expect(formatProgress({ elapsedMs: 0, fraction: 1.2, completed: 0, inFlight: 0, errors: 0, rps: 0 }, 4)).toMatch(
      /^\[====\] 100%/,
    );
  });
});

describe("fmtMs", () => {
  it("keeps three significant figures", () => {
    expect(fmtMs(0.456)).toBe("0.46 ms");
    expect(fmtMs(123.45)).toBe("123.5 ms");
    expect(fmtMs(2500)).toBe("2.50 s");
  });
});
