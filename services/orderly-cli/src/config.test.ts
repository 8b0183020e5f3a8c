import { ConfigError } from "@orderly/observability";
import { describe, expect, it } from "vitest";
import { readCliConfig } from "./config.js";

describe("readCliConfig", () => {
  it("reads PROJECTOR_UNKNOWN_EVENT_TYPES as the projector processes do: stop (default) or skip, nothing else", () => {
    expect(readCliConfig({}).unknownEventTypes).toBe("stop");
    expect(readCliConfig({ PROJECTOR_UNKNOWN_EVENT_TYPES: "" }).unknownEventTypes).toBe("stop");
    expect(readCliConfig({ PROJECTOR_UNKNOWN_EVENT_TYPES: "stop" }).unknownEventTypes).toBe("stop");
    expect(readCliConfig({ PROJECTOR_UNKNOWN_EVENT_TYPES: "skip" }).unknownEventTypes).toBe("skip");
    expect(() => readCliConfig({ PROJECTOR_UNKNOWN_EVENT_TYPES: "ignore" })).toThrow(
      /PROJECTOR_UNKNOWN_EVENT_TYPES must be one of stop, skip \(got "ignore"\)/,
    );
  });

  it("names every bad variable at once", () => {
    try {
      readCliConfig({ ORDERLY_NAMESPACE: "a.b", PROJECTOR_UNKNOWN_EVENT_TYPES: "x" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems.some((p) => p.startsWith("ORDERLY_NAMESPACE"))).toBe(true);
      expect(problems.some((p) => p.startsWith("PROJECTOR_UNKNOWN_EVENT_TYPES"))).toBe(true);
    }
  });
});
