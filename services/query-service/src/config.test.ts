import { ConfigError } from "@orderly/observability";
import { configErrorOf } from "@orderly/observability/testing";
import { describe, expect, it } from "vitest";
import { readQueryServiceConfig } from "./config.js";

describe("readQueryServiceConfig", () => {
  it("has defaults that run on a developer's machine", () => {
    const config = readQueryServiceConfig({});
    expect(config.grpcPort).toBe(50052);
    expect(config.metricsPort).toBe(9402);
    expect(config.maxWaitMs).toBe(500);
    expect(config.streamMaxMs).toBe(30_000);
    expect(config.maxWaiters).toBe(10_000);
    expect(config.pageTokenSecret).toBeUndefined();
    expect(config.stack.namespace).toBe("orderly");
    expect(config.batchReads).toBe(true);
    expect(config.readTimeoutMs).toBe(2_000);
    expect(config.startupTimeoutMs).toBe(60_000);
    expect(config.queryDatabaseUrl).toBeUndefined();
  });

  it("reads order_summaries from QUERY_DATABASE_URL when set, and checks it", () => {
    expect(readQueryServiceConfig({ QUERY_DATABASE_URL: "postgres://u@replica:5433/orderly" }).queryDatabaseUrl).toBe(
      "postgres://u@replica:5433/orderly",
    );
    expect(() => readQueryServiceConfig({ QUERY_DATABASE_URL: "mysql://replica/orderly" })).toThrow(
      'QUERY_DATABASE_URL="mysql://replica/orderly" is not a postgres:// URL',
    );
    expect(() => readQueryServiceConfig({ QUERY_DATABASE_URL: "postgres://replica:5433" })).toThrow(
      "names no database",
    );
  });

  it("reads overrides", () => {
    const config = readQueryServiceConfig({
      QUERY_PORT: "0",
      METRICS_PORT: "9999",
      QUERY_MAX_WAIT_MS: "250",
      QUERY_READ_TIMEOUT_MS: "300",
      QUERY_PAGE_TOKEN_SECRET: "0123456789abcdef",
      ORDERLY_STARTUP_TIMEOUT_MS: "5000",
    });
    expect(config).toMatchObject({
      startupTimeoutMs: 5_000,
      grpcPort: 0,
      metricsPort: 9999,
      maxWaitMs: 250,
      readTimeoutMs: 300,
      pageTokenSecret: "0123456789abcdef",
    });
  });

  it("names every bad variable at once", () => {
    const bad = {
      QUERY_PORT: "x",
      METRICS_PORT: "70000",
      QUERY_MAX_WAIT_MS: "-1",
      QUERY_PAGE_TOKEN_SECRET: "short",
      REDIS_URL: "http://x",
      QUERY_BATCH_READS: "maybe",
      QUERY_READ_TIMEOUT_MS: "0",
    };
    const error = configErrorOf(() => readQueryServiceConfig(bad));
    expect(error).toBeInstanceOf(ConfigError);
    for (const name of Object.keys(bad)) expect(error.message).toContain(name);
  });
});
