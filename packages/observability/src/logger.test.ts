import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, readLogConfig } from "./logger.js";

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { stream, lines: () => text.split("\n").filter((l) => l !== "") };
}

describe("createLogger", () => {
  it("writes JSON lines with the name and honours the level", async () => {
    const out = capture();
    const logger = createLogger("command-service", { format: "json", level: "info", destination: out.stream });
    logger.debug("hidden");
    logger.info({ orderId: "o-1" }, "accepted");
    await new Promise((r) => setImmediate(r));
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? "{}");
    expect(entry).toMatchObject({ name: "command-service", level: 30, msg: "accepted", orderId: "o-1" });
  });

  it("pretty-prints when asked", async () => {
    const out = capture();
    const logger = createLogger("stack", { format: "pretty", level: "info", destination: out.stream });
    logger.info("hello there");
    await new Promise((r) => setImmediate(r));
    const text = out.lines().join("\n");
    expect(text).toContain("hello there");
    expect(text).toContain("(stack)");
    expect(() => JSON.parse(out.lines()[0] ?? "")).toThrow();
  });

  it("rejects an unknown LOG_LEVEL with its value", () => {
    expect(() => createLogger("x", { level: "loud" })).toThrow('LOG_LEVEL="loud" is not a log level');
  });

  it("takes LOG_LEVEL, LOG_FORMAT, NO_COLOR and FORCE_COLOR from the environment main passes", () => {
    expect(readLogConfig({})).toEqual({ level: "info" });
    expect(readLogConfig({ LOG_LEVEL: "debug", LOG_FORMAT: "json", NO_COLOR: "", FORCE_COLOR: "1" })).toEqual({
      level: "debug",
      format: "json",
      colour: false,
    });
    expect(readLogConfig({ FORCE_COLOR: "1" })).toEqual({ level: "info", colour: true });
    expect(() => readLogConfig({ LOG_FORMAT: "xml" })).toThrow('LOG_FORMAT="xml" is not a log format');
  });
});
