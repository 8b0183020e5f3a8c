import { ConfigError } from "@orderly/observability";
import { configErrorOf } from "@orderly/observability/testing";
import { describe, expect, it } from "vitest";
import { readConfig } from "./config.js";

describe("readConfig", () => {
  it("has defaults that run on a developer machine", () => {
    // A URL without a user gets the OS user's (PGUSER/USER first), as libpq does.
    expect(readConfig({ USER: "dev" })).toEqual({
      databaseUrl: "postgres://dev@127.0.0.1:5432/orderly",
      natsUrl: "nats://127.0.0.1:4222",
      nats: { servers: ["nats://127.0.0.1:4222"] },
      namespace: "orderly",
      commandPort: 50051,
      host: "127.0.0.1",
      metricsPort: 9401,
      poolMax: 10,
      cacheSize: 10_000,
      shutdownGraceMs: 10_000,
      statementTimeoutMs: 7_000,
      appendConcurrentBatches: 1,
      security: { tls: undefined, auth: undefined, limits: undefined, maxDeadlineMs: 30_000 },
      startupTimeoutMs: 60_000,
    });
  });

  it("reads the environment", () => {
    const config = readConfig({
      DATABASE_URL: "postgres://app@db:5432/x",
      COMMAND_PORT: "6000",
      METRICS_PORT: "0",
      COMMAND_CACHE_SIZE: "0",
      PG_STATEMENT_TIMEOUT_MS: "1500",
      ORDERLY_STARTUP_TIMEOUT_MS: "2500",
    });
    expect(config).toMatchObject({
      startupTimeoutMs: 2500,
      databaseUrl: "postgres://app@db:5432/x",
      commandPort: 6000,
      metricsPort: 0,
      cacheSize: 0,
      statementTimeoutMs: 1500,
    });
  });

  it("names every bad variable at once", () => {
    const bad = {
      COMMAND_PORT: "http",
      METRICS_PORT: "99999",
      PG_POOL_MAX: "0",
      DATABASE_URL: "mysql://x/y",
      PG_STATEMENT_TIMEOUT_MS: "5s",
      ORDERLY_STARTUP_TIMEOUT_MS: "soon",
    };
    const error = configErrorOf(() => readConfig(bad));
    expect(error).toBeInstanceOf(ConfigError);
    for (const name of Object.keys(bad)) expect(error.message).toContain(name);
  });
});
