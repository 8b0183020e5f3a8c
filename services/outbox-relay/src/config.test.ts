import { ConfigError } from "@orderly/observability";
import { configErrorOf } from "@orderly/observability/testing";
import { describe, expect, it } from "vitest";
import { readConfig } from "./config.js";

describe("relay configuration", () => {
  it("has defaults that run on a developer's machine", () => {
    const config = readConfig({});
    expect(config.metricsPort).toBe(9403);
    expect(config.stack.namespace).toBe("orderly");
    expect(config.batchSize).toBe(1000);
    expect(config.maxInFlight).toBe(4096);
    expect(config.pollIntervalMs).toBe(1000);
  });

  it("names every bad variable at once", () => {
    const bad = { METRICS_PORT: "http", RELAY_BATCH_SIZE: "0", NATS_URL: "http://x", RELAY_ACK_TIMEOUT_MS: "soon" };
    const error = configErrorOf(() => readConfig(bad));
    expect(error).toBeInstanceOf(ConfigError);
    for (const name of Object.keys(bad)) expect(error.message).toContain(name);
  });
});
