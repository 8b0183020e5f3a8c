import { describe, expect, it } from "vitest";
import { report } from "./report.fixture.js";
import { fmtMs, formatProgress, formatText } from "./report-text.js";

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
