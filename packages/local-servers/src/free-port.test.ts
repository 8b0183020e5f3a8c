import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, listenRange } from "./free-port.js";

describe("freePort", () => {
  it("hands out distinct ports below the kernel's ephemeral range, each bindable", async () => {
    const [low, high] = listenRange();
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(low);
      expect(port).toBeLessThan(high);
    }
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(ports[0], "127.0.0.1", resolve));
    await new Promise((resolve) => server.close(resolve));
  });

  it("reads the ephemeral range's start from ip_local_port_range, with Linux's default when it cannot", () => {
    const dir = mkdtempSync(join(tmpdir(), "orderly-ports-"));
    try {
      writeFileSync(join(dir, "range"), "40000\t60999\n");
      expect(listenRange(join(dir, "range"))).toEqual([10_000, 40_000]);
      expect(listenRange(join(dir, "missing"))).toEqual([10_000, 32_768]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
