import { ConfigError } from "@orderly/observability";
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
    let error: unknown;
    try {
      readConfig({ METRICS_PORT: "http", RELAY_BATCH_SIZE: "0", NATS_URL: "http://x", RELAY_ACK_TIMEOUT_MS: "soon" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ["METRICS_PORT", "RELAY_BATCH_SIZE", "NATS_URL", "RELAY_ACK_TIMEOUT_MS"]) {
      expect(message).toContain(name);
    }
  });
});
