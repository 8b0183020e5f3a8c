import { ConfigError } from "@orderly/observability";
import { describe, expect, it } from "vitest";
import { readProjectorConfig } from "./config.js";

describe("readProjectorConfig", () => {
  it("has defaults that run on a developer's machine", () => {
    expect(readProjectorConfig({})).toEqual({
      batchSize: 100,
      catchUpBatchSize: 2000,
      rebuildBatchSize: 5000,
      poisonRetryMs: 5000,
      ackWaitMs: 60_000,
      redisCheckIntervalMs: 5000,
      redisAuditPassMs: 60_000,
      unknownEventTypes: "stop",
    });
  });

  it("reads PROJECTOR_UNKNOWN_EVENT_TYPES: stop (default) or skip, nothing else", () => {
    expect(readProjectorConfig({ PROJECTOR_UNKNOWN_EVENT_TYPES: "skip" }).unknownEventTypes).toBe("skip");
    expect(readProjectorConfig({ PROJECTOR_UNKNOWN_EVENT_TYPES: "stop" }).unknownEventTypes).toBe("stop");
    expect(readProjectorConfig({ PROJECTOR_UNKNOWN_EVENT_TYPES: "" }).unknownEventTypes).toBe("stop");
    expect(() => readProjectorConfig({ PROJECTOR_UNKNOWN_EVENT_TYPES: "ignore" })).toThrow(
      /PROJECTOR_UNKNOWN_EVENT_TYPES/,
    );
  });

  it("reads the Redis partial-loss check's interval and audit pass (0: no audit)", () => {
    const config = readProjectorConfig({
      PROJECTOR_REDIS_CHECK_INTERVAL_MS: "250",
      PROJECTOR_REDIS_AUDIT_PASS_MS: "0",
    });
    expect(config).toMatchObject({ redisCheckIntervalMs: 250, redisAuditPassMs: 0 });
    expect(() => readProjectorConfig({ PROJECTOR_REDIS_CHECK_INTERVAL_MS: "0" })).toThrow(ConfigError);
  });

  it("names every bad variable at once", () => {
    expect(() => readProjectorConfig({ PROJECTOR_BATCH_SIZE: "0", PROJECTOR_POISON_RETRY_MS: "soon" })).toThrow(
      ConfigError,
    );
    try {
      readProjectorConfig({ PROJECTOR_BATCH_SIZE: "0", PROJECTOR_POISON_RETRY_MS: "soon" });
    } catch (error) {
      expect((error as ConfigError).problems).toHaveLength(2);
    }
  });
});
