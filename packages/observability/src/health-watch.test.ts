import { describe, expect, it } from "vitest";
import { watchHealth } from "./health-watch.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(5);
  expect(condition()).toBe(true);
}

describe("watchHealth", () => {
  it("reports each change once, counts a throw as unhealthy, and stops", async () => {
    const answers: (boolean | Error)[] = [true, true, false, false, new Error("down"), true, true];
    const changes: boolean[] = [];
    let checks = 0;
    const watch = watchHealth({
      intervalMs: 1,
      check: () => {
        const answer = answers[Math.min(checks++, answers.length - 1)];
        if (answer instanceof Error) throw answer;
        return answer as boolean;
      },
      onChange: (healthy) => changes.push(healthy),
    });
    await until(() => checks >= answers.length + 2);
    watch.stop();
    expect(changes).toEqual([false, true]);
    expect(watch.healthy).toBe(true);
    const after = checks;
    await sleep(20);
    expect(checks).toBeLessThanOrEqual(after + 1);
  });

  it("never runs two checks at once", async () => {
    let running = 0;
    let most = 0;
    let checks = 0;
    const watch = watchHealth({
      intervalMs: 0,
      check: async () => {
        running++;
        most = Math.max(most, running);
        checks++;
        await sleep(5);
        running--;
        return true;
      },
      onChange: () => {},
    });
    await until(() => checks >= 5);
    watch.stop();
    expect(most).toBe(1);
  });

  it("starts from `initial`", async () => {
    const changes: boolean[] = [];
    let checks = 0;
    const watch = watchHealth({
      initial: false,
      intervalMs: 1,
      check: () => {
        checks++;
        return true;
      },
      onChange: (healthy) => changes.push(healthy),
    });
    await until(() => checks >= 3);
    watch.stop();
    expect(changes).toEqual([true]);
  });
});
