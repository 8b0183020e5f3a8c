import { describe, expect, it, vi } from "vitest";
import { shutdownOnSignals } from "./shutdown.js";

describe("shutdownOnSignals", () => {
  it("runs the shutdown once, however many signals arrive", async () => {
    const fn = vi.fn(async () => {
      await new Promise((r) => setTimeout(r, 20));
    });
    const remove = shutdownOnSignals(fn, { exit: false, signals: ["SIGUSR2"] });
    process.emit("SIGUSR2", "SIGUSR2");
    process.emit("SIGUSR2", "SIGUSR2");
    await new Promise((r) => setTimeout(r, 50));
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn).toHaveBeenCalledWith("SIGUSR2");
    remove();
    expect(process.listenerCount("SIGUSR2")).toBe(0);
  });
});
