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
      partitions: 1,
      partitionList: undefined,
      leaseIntervalMs: 2000,
    });
  });

  it("reads the partition count and a static partition list (one index or a comma list)", () => {
    expect(readProjectorConfig({ PROJECTOR_PARTITIONS: "4" })).toMatchObject({
      partitions: 4,
      partitionList: undefined,
    });
    expect(readProjectorConfig({ PROJECTOR_PARTITIONS: "4", PROJECTOR_PARTITION: "2" }).partitionList).toEqual([2]);
    expect(readProjectorConfig({ PROJECTOR_PARTITIONS: "4", PROJECTOR_PARTITION: "3,0" }).partitionList).toEqual([
      0, 3,
    ]);
    expect(() => readProjectorConfig({ PROJECTOR_PARTITIONS: "4", PROJECTOR_PARTITION: "4" })).toThrow(
      /does not exist/,
    );
    expect(() => readProjectorConfig({ PROJECTOR_PARTITION: "1" })).toThrow(/does not exist with 1/);
    expect(() => readProjectorConfig({ PROJECTOR_PARTITIONS: "0" })).toThrow(ConfigError);
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
