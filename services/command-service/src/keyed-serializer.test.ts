import { describe, expect, it } from "vitest";
import { KeyedSerializer } from "./keyed-serializer.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("KeyedSerializer", () => {
  it("runs tasks of one key one at a time, in order, and different keys concurrently", async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    let runningA = 0;
    let maxRunningA = 0;
    const taskA = (i: number) => async () => {
      runningA++;
      maxRunningA = Math.max(maxRunningA, runningA);
      log.push(`a${i} start`);
      await tick();
      log.push(`a${i} end`);
      runningA--;
      return i;
    };
    const b = serializer.run("b", async () => {
      log.push("b start");
      await tick();
      return "b";
    });
    const results = await Promise.all([1, 2, 3].map((i) => serializer.run("a", taskA(i))));
    expect(results).toEqual([1, 2, 3]);
    expect(await b).toBe("b");
    expect(maxRunningA).toBe(1);
    expect(log.filter((l) => l.startsWith("a"))).toEqual([
      "a1 start",
      "a1 end",
      "a2 start",
      "a2 end",
      "a3 start",
      "a3 end",
    ]);
    expect(log.indexOf("b start")).toBeLessThan(log.indexOf("a1 end"));
    expect(serializer.size).toBe(0);
  });

  it("keeps going after a failed task and hands each caller its own result", async () => {
    const serializer = new KeyedSerializer();
    const failed = serializer.run("k", async () => {
      throw new Error("boom");
    });
    const next = serializer.run("k", async () => "ok");
    await expect(failed).rejects.toThrow("boom");
    expect(await next).toBe("ok");
  });
});
