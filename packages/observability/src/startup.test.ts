import { describe, expect, it } from "vitest";
import { ConfigError } from "./config.js";
import { readStartupTimeoutMs, type StartupDependency, StartupTimeoutError, waitForDependencies } from "./startup.js";

function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  return {
    lines,
    info: (_obj: object, msg?: string) => lines.push({ level: "info", msg: msg ?? "" }),
    warn: (_obj: object, msg?: string) => lines.push({ level: "warn", msg: msg ?? "" }),
  };
}

/** Fails with `reason` until `readyAfterMs` have passed since it was made. */
function appearsAfter(
  name: string,
  readyAfterMs: number,
  reason = "not there yet",
): StartupDependency & { tries: number } {
  const since = Date.now();
  const dependency = {
    name,
    tries: 0,
    check: async () => {
      dependency.tries++;
      if (Date.now() - since < readyAfterMs) throw new Error(reason);
    },
  };
  return dependency;
}

describe("waitForDependencies", () => {
  it("waits for each with backoff, logs what it waits for once, then when it came", async () => {
    const logger = recordingLogger();
    const db = appearsAfter("the database", 600, "database does not exist yet");
    const nats = appearsAfter("NATS", 0);
    await waitForDependencies([db, nats], { timeoutMs: 10_000, logger, baseDelayMs: 20, maxDelayMs: 100 });
    expect(nats.tries).toBe(1);
    // Backoff: 20, 40, 80, 100, 100 … ms (halved at worst by jitter), so a handful of tries in 600 ms, not hundreds.
    expect(db.tries).toBeGreaterThan(3);
    expect(db.tries).toBeLessThan(40);
    expect(logger.lines).toEqual([
      { level: "warn", msg: "waiting for the database: database does not exist yet" },
      { level: "info", msg: expect.stringMatching(/^the database is ready \(after \d+\.\d s\)$/) },
    ]);
  });

  it("says it is still waiting at a low rate, and again when the reason changes", async () => {
    const logger = recordingLogger();
    let calls = 0;
    const flaky: StartupDependency = {
      name: "Redis",
      check: async () => {
        calls++;
        if (calls < 10) throw new Error("ECONNREFUSED");
        if (calls < 14) throw new Error("LOADING Redis is loading the dataset in memory");
      },
    };
    await waitForDependencies([flaky], {
      timeoutMs: 10_000,
      logger,
      baseDelayMs: 5,
      maxDelayMs: 10,
      logEveryMs: 60_000,
    });
    expect(logger.lines.map((l) => l.msg)).toEqual([
      "waiting for Redis: ECONNREFUSED",
      "still waiting for Redis: LOADING Redis is loading the dataset in memory",
      expect.stringMatching(/^Redis is ready/),
    ]);
  });

  it("gives up after the timeout naming the dependency, why, and what makes it appear", async () => {
    const logger = recordingLogger();
    const never: StartupDependency = {
      name: 'Postgres database "orderly" at postgres://127.0.0.1:5432/orderly (DATABASE_URL)',
      hint: "start the command service, which creates it",
      check: async () => {
        throw new Error('database "orderly" does not exist yet');
      },
    };
    const ok = appearsAfter("Redis", 0);
    const started = Date.now();
    const error = await waitForDependencies([ok, never], {
      timeoutMs: 500,
      logger,
      baseDelayMs: 50,
      maxDelayMs: 100,
    }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error).toBeInstanceOf(StartupTimeoutError);
    expect((error as Error).message).toBe(
      'gave up after 1 s waiting for Postgres database "orderly" at postgres://127.0.0.1:5432/orderly (DATABASE_URL): ' +
        'database "orderly" does not exist yet; start the command service, which creates it ' +
        "(ORDERLY_STARTUP_TIMEOUT_MS sets how long to wait)",
    );
  });

  it("stops waiting when its signal aborts (shutdown during start)", async () => {
    const abort = new AbortController();
    const waiting = waitForDependencies([appearsAfter("NATS", 60_000)], {
      timeoutMs: 60_000,
      logger: recordingLogger(),
      signal: abort.signal,
    });
    setTimeout(() => abort.abort(new Error("SIGTERM")), 50);
    await expect(waiting).rejects.toThrow("SIGTERM");
  });
});

describe("readStartupTimeoutMs", () => {
  it("reads ORDERLY_STARTUP_TIMEOUT_MS with a generous default and names it when it is wrong", () => {
    expect(readStartupTimeoutMs({})).toBe(60_000);
    expect(readStartupTimeoutMs({ ORDERLY_STARTUP_TIMEOUT_MS: " 5000 " })).toBe(5_000);
    expect(readStartupTimeoutMs({ ORDERLY_STARTUP_TIMEOUT_MS: "0" })).toBe(0);
    expect(() => readStartupTimeoutMs({ ORDERLY_STARTUP_TIMEOUT_MS: "1m" })).toThrow(ConfigError);
    expect(() => readStartupTimeoutMs({ ORDERLY_STARTUP_TIMEOUT_MS: "1m" })).toThrow(/ORDERLY_STARTUP_TIMEOUT_MS="1m"/);
  });
});
