import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeServer, type FakeServerOptions, startFakeOrderlyServer } from "./fake-orderly-server.js";
import { CREATE_ONLY, DEFAULT_MIX_TEXT, makeMix, parseMixWeights } from "./mix.js";
import type { Report } from "./report.js";
import { type CallOutcome, type LoadOptions, runLoad } from "./run.js";
import { parseSlo } from "./slo.js";

// The generator against an in-process grpc-js server that follows the contract's rules (idempotency, expected
// versions, order states): every figure here is an exact count, never a speed.

const base = (port: number): LoadOptions => ({
  address: `127.0.0.1:${port}`,
  mode: "closed",
  concurrency: 16,
  count: 1000,
  timeoutMs: 20_000,
  maxInFlight: 1000,
  connections: 1,
  mix: CREATE_ONLY,
  rywRate: 0,
  seed: 12345,
  customers: 50,
  lateThresholdMs: 5,
  slo: [],
});

/** An open loop at `rate` calls/s for `durationMs` (instead of a count). */
const openLoopFor = (port: number, rate: number, durationMs: number): LoadOptions => ({
  ...base(port),
  mode: "open",
  rate,
  count: undefined,
  durationMs,
  concurrency: undefined,
});

/** A fake server for the enclosing describe block: started before its tests, closed after them. */
function fakeServerForBlock(options: FakeServerOptions = {}): () => FakeServer {
  let server: FakeServer | undefined;
  beforeAll(async () => {
    server = await startFakeOrderlyServer(options);
  });
  afterAll(async () => {
    await server?.close();
  });
  return () => server as FakeServer;
}

const sum = (record: Readonly<Record<string, number>>) => Object.values(record).reduce((a, b) => a + b, 0);

describe("runLoad against a canned CommandService", () => {
  const fake = fakeServerForBlock();

  it("hands every settled command call to onReply, with its status and accepted reply", async () => {
    const outcomes: CallOutcome[] = [];
    const report = await runLoad({
      ...base(fake().port),
      count: 300,
      mix: makeMix(parseMixWeights(DEFAULT_MIX_TEXT), 0.05, 0.05),
      onReply: (outcome) => outcomes.push(outcome),
    });
    expect(outcomes).toHaveLength(report.total);
    const ok = outcomes.filter((o) => o.code === 0);
    expect(ok.length).toBe(report.status_codes.OK);
    for (const o of ok) expect(o.accepted?.position).toBeGreaterThan(0);
    for (const o of outcomes.filter((o) => o.call.kind === "conflict")) expect(o.code).toBe(10); // ABORTED
    for (const o of outcomes) expect(o.settledAt).toBeGreaterThanOrEqual(o.startedAt);
  });

  it("closed loop with the realistic mix: every call counted, conflicts ABORTED, duplicates recognised", async () => {
    const before = sum(fake().calls);
    const report = await runLoad({
      ...base(fake().port),
      count: 2000,
      mix: makeMix(parseMixWeights(DEFAULT_MIX_TEXT), 0.05, 0.05),
      rywRate: 0.2,
      queryAddress: `127.0.0.1:${fake().port}`,
    });
    expect(report.total).toBe(2000);
    expect(report.errors).toBe(0);
    expect(report.ok).toBe(2000);
    expect(report.error_rate).toBe(0);
    expect(report.error_messages).toEqual([]);
    // Every reply is OK except the conflicts, which are exactly the ABORTED ones.
    expect(sum(report.status_codes)).toBe(2000);
    expect(report.status_codes.ABORTED ?? 0).toBe(report.by_kind.conflict.count);
    expect(report.status_codes.OK).toBe(2000 - report.by_kind.conflict.count);
    expect(report.by_kind.conflict.count).toBeGreaterThan(0);
    expect(report.by_kind.duplicate.count).toBeGreaterThan(0);
    for (const k of ["pay", "ship", "cancel"] as const) expect(report.by_kind[k].count).toBeGreaterThan(0);
    const kinds = Object.values(report.by_kind);
    expect(kinds.reduce((a, k) => a + k.count, 0)).toBe(2000);
    expect(kinds.reduce((a, k) => a + k.latency_ms.count, 0)).toBe(2000);
    // The server saw exactly the calls the report counts (plus the read-your-writes queries).
    const ryw = report.ryw;
    expect(ryw).not.toBeNull();
    expect(sum(fake().calls) - before).toBe(2000 + (ryw?.checks ?? 0));
    expect(ryw?.checks).toBeGreaterThan(0);
    expect(ryw?.ok).toBe(ryw?.checks);
    expect(ryw?.failed).toBe(0);
    expect(ryw?.status_codes).toEqual({ OK: ryw?.checks });
    expect(ryw?.latency_ms.count).toBe(ryw?.checks);
    expect(report.schedule).toBeNull();
    expect(report.options).toMatchObject({
      mode: "closed",
      concurrency: 16,
      count: 2000,
      rate: null,
      duplicate_rate: 0.05,
    });
    checkShape(report);
  });

  it("open loop stopped early: the rest of the schedule is cut short, not counted as dropped", async () => {
    const abort = new AbortController();
    const stopAt = setTimeout(() => abort.abort(), 300);
    const report = await runLoad({ ...openLoopFor(fake().port, 1000, 10_000), signal: abort.signal });
    clearTimeout(stopAt);
    const s = report.schedule;
    // About 300 calls were due at the stop; the other ~9,700 of the 10 s schedule were never intended.
    expect(s?.intended).toBeGreaterThan(150);
    expect(s?.intended).toBeLessThan(1_500);
    expect((s?.sent ?? 0) + (s?.dropped ?? 0)).toBe(s?.intended);
    expect(s?.dropped).toBeLessThan(50);
    expect(report.total).toBe(s?.sent);
  });

  it("open loop by count: the schedule sends every intended call", async () => {
    const report = await runLoad({
      ...base(fake().port),
      mode: "open",
      rate: 2000,
      count: 400,
      concurrency: undefined,
    });
    expect(report.total).toBe(400);
    expect(report.schedule).toMatchObject({ target_rate: 2000, intended: 400, sent: 400, dropped: 0 });
    expect(report.schedule?.send_delay_ms.count).toBe(400);
    expect(report.options).toMatchObject({ mode: "open", rate: 2000, concurrency: null, max_in_flight: 1000 });
    expect(report.status_codes).toEqual({ OK: 400 });
    checkShape(report);
  });

  it("counts unexpected statuses as errors and misses an error SLO", async () => {
    const flaky = await startFakeOrderlyServer({ unavailableEvery: 10 });
    try {
      const report = await runLoad({ ...base(flaky.port), count: 200, slo: parseSlo("errors<1%,p99<60s") });
      expect(report.status_codes).toEqual({ OK: 180, UNAVAILABLE: 20 });
      expect(report.by_kind.create.status_codes).toEqual({ OK: 180, UNAVAILABLE: 20 });
      expect(report.errors).toBe(20);
      checkSeries(report);
      expect(report.error_rate).toBe(0.1);
      expect(report.error_messages).toEqual([{ message: "create: UNAVAILABLE: injected outage", count: 20 }]);
      expect(report.slo?.passed).toBe(false);
      expect(report.slo?.checks.map((c) => [c.expr, c.passed])).toEqual([
        ["errors<1%", false],
        ["p99<60s", true],
      ]);
    } finally {
      await flaky.close();
    }
  });
});

describe("coordinated omission", () => {
  const slow = fakeServerForBlock({ delayMs: 20 });

  it("measures from the intended send time: a stalled server shows as late sends and long latencies", async () => {
    // 1000 calls/s intended, but one call at a time and each takes ≥ 20 ms: call i (due at i ms) leaves at ≥ 20·i ms.
    const report = await runLoad({ ...base(slow().port), mode: "open", rate: 1000, count: 50, maxInFlight: 1 });
    expect(report.total).toBe(50);
    expect(report.schedule).toMatchObject({ intended: 50, sent: 50, dropped: 0, late: 49 });
    // The last call was due at 49 ms and answered after ≥ 50 × 20 ms: its latency counts the wait.
    expect(report.latency_ms.max).toBeGreaterThanOrEqual(900);
    expect(report.schedule?.send_delay_ms.max).toBeGreaterThanOrEqual(800);
  });

  it("drops what it could not send within the duration, and says so", async () => {
    const report = await runLoad({
      ...openLoopFor(slow().port, 1000, 200),
      maxInFlight: 1,
      slo: parseSlo("dropped<1%"),
    });
    const s = report.schedule;
    expect(s?.intended).toBe(200);
    expect((s?.sent ?? 0) + (s?.dropped ?? 0)).toBe(200);
    expect(s?.sent).toBeLessThanOrEqual(11); // ≥ 20 ms per call, 200 ms (+ the threshold) to send them
    expect(s?.dropped).toBeGreaterThanOrEqual(189);
    expect(report.total).toBe(s?.sent);
    expect(report.slo?.passed).toBe(false);
  });
});

describe("timeouts", () => {
  const stuck = fakeServerForBlock({ delayMs: 5_000 });

  it.each([
    ["cancelled by the generator's sweep", false],
    ["as gRPC deadlines", true],
  ])("count calls that outlive --timeout as DEADLINE_EXCEEDED errors (%s)", async (_, grpcDeadline) => {
    const report = await runLoad({ ...base(stuck().port), count: 20, concurrency: 4, timeoutMs: 200, grpcDeadline });
    expect(report.total).toBe(20);
    expect(report.status_codes).toEqual({ DEADLINE_EXCEEDED: 20 });
    expect(report.errors).toBe(20);
    // At the timeout, not at the server's 5 s. The latency is measured with performance.now() from before the call,
    // while grpc-js arms its deadline from a Date in whole milliseconds on libuv's loop clock, which is read once per
    // loop turn: the call can end a millisecond or two before 200 ms by performance.now() (CI measured 198.656 on a
    // busy machine), never much earlier.
    expect(report.latency_ms.min).toBeGreaterThanOrEqual(195);
    expect(report.latency_ms.max).toBeLessThan(1_000);
    expect(report.options.grpc_deadline).toBe(grpcDeadline);
    if (!grpcDeadline) {
      expect(report.error_messages).toEqual([
        { message: "create: DEADLINE_EXCEEDED: client timeout after <n> ms (call cancelled)", count: 20 },
      ]);
    }
  });
});

describe("runLoad", () => {
  it("rejects at once when the server cannot be reached", async () => {
    await expect(runLoad({ ...base(1), connectTimeoutMs: 500 })).rejects.toThrow(/cannot connect/);
  });

  it("needs exactly one of a count and a duration", async () => {
    await expect(runLoad({ ...base(1), durationMs: 1000 })).rejects.toThrow(/exactly one/);
  });
});

/** The JSON field names other tools read (README: "JSON output"). */
function checkShape(report: Report): void {
  const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
  expect(Object.keys(json).sort()).toEqual(
    [
      "tool",
      "schema_version",
      "command",
      "started_at",
      "options",
      "elapsed_s",
      "total",
      "ok",
      "rps",
      "latency_ms",
      "status_codes",
      "by_kind",
      "errors",
      "error_rate",
      "error_messages",
      "schedule",
      "ryw",
      "generator",
      "slo",
      "series",
      "distribution",
    ].sort(),
  );
  expect(Object.keys(report.latency_ms).sort()).toEqual(
    ["count", "min", "mean", "p50", "p90", "p99", "p99_9", "max", "stdev"].sort(),
  );
  expect(Object.keys(report.generator).sort()).toEqual(
    ["cpu_user_s", "cpu_system_s", "cpu_percent", "cpu_per_call_us", "calls", "saturated", "saturation_reasons"].sort(),
  );
  expect(report.latency_ms.count).toBe(report.total);
  expect(report.latency_ms.p50).toBeGreaterThan(0);
  expect(report.latency_ms.p50).toBeLessThanOrEqual(report.latency_ms.p90);
  expect(report.latency_ms.p90).toBeLessThanOrEqual(report.latency_ms.p99);
  expect(report.latency_ms.p99).toBeLessThanOrEqual(report.latency_ms.p99_9);
  expect(report.latency_ms.p99_9).toBeLessThanOrEqual(report.latency_ms.max);
  expect(report.generator.cpu_per_call_us).toBeGreaterThan(0);
  expect(report.generator.calls).toBe(report.total + (report.ryw?.checks ?? 0));
  expect(report.rps).toBeGreaterThan(0);
  checkSeries(report);
}

/** The per-second series add up to the run's totals and cover it; the distribution ends at the maximum. */
function checkSeries(report: Report): void {
  const { series, distribution } = report;
  const n = series.end_s.length;
  expect(n).toBe(Math.max(1, Math.ceil(series.end_s.at(-1) ?? 0)));
  expect(series.end_s.at(-1)).toBeGreaterThanOrEqual(report.elapsed_s);
  const total = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  for (const xs of Object.values(series.commands)) expect(xs).toHaveLength(n);
  expect(total(series.commands.count)).toBe(report.total);
  expect(total(series.commands.errors)).toBe(report.errors);
  const maxes = series.commands.max_ms.filter((v): v is number => v !== null);
  expect(Math.max(...maxes)).toBe(report.latency_ms.max);
  if (report.schedule) expect(total(series.target ?? [])).toBe(report.schedule.intended);
  else expect(series.target).toBeNull();
  expect(distribution.commands.ms.at(-1)).toBe(report.latency_ms.max);
  expect(distribution.commands.ms[0]).toBe(report.latency_ms.min);
  expect(distribution.commands.quantile).toEqual([...distribution.commands.quantile].sort((a, b) => a - b));
  if (report.ryw) {
    expect(total(series.ryw?.count ?? [])).toBe(report.ryw.checks);
    expect(total(series.ryw?.errors ?? [])).toBe(report.ryw.failed);
    expect(distribution.ryw?.ms.at(-1)).toBe(report.ryw.latency_ms.max);
  } else {
    expect(series.ryw).toBeNull();
    expect(distribution.ryw).toBeNull();
  }
  for (const kind of Object.values(report.by_kind)) {
    expect(Object.values(kind.status_codes).reduce((a, b) => a + b, 0)).toBe(kind.count);
  }
}
