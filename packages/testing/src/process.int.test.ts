import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, startService } from "./process.js";

describe("startService", () => {
  it("waits for a ready line, captures output, and stops the process", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderly-process-"));
    const entry = join(dir, "child.mjs");
    await writeFile(
      entry,
      `console.log("starting " + process.env.GREETING); setTimeout(() => console.log("ready"), 100);
       process.on("SIGTERM", () => { console.log("bye"); process.exit(0); }); setInterval(() => {}, 1000);`,
    );
    const service = await startService({ name: "child", entry, env: { GREETING: "hello" }, readyLine: /ready/ });
    expect(service.output()).toContain("starting hello");
    expect(await service.stop()).toBe(0);
    expect(service.output()).toContain("bye");
  });

  it("reports a process that dies before it is ready, with its output", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderly-process-"));
    const entry = join(dir, "dies.mjs");
    await writeFile(entry, `console.error("no database"); process.exit(3);`);
    await expect(startService({ name: "dies", entry, readyLine: /never/ })).rejects.toThrow(
      /exited before.*\(3\)[\s\S]*no database/,
    );
  });

  it("SIGKILLs on kill()", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderly-process-"));
    const entry = join(dir, "stubborn.mjs");
    await writeFile(entry, `process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000);`);
    const service = await startService({ name: "stubborn", entry, readyLine: /up/ });
    expect(await service.kill()).toBe("SIGKILL");
  });

  it("freePort gives distinct usable ports", async () => {
    const a = await freePort();
    const b = await freePort();
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  });
});
