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
    });
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
