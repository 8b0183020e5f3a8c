import { expect } from "vitest";
import type { ScenarioResult } from "./scenario.js";

/** What every scenario outside a restore's window must end with: nothing lost, nothing phantom or missing. */
export function expectNoDamage(result: ScenarioResult): void {
  const lost = result.allCommands.verdicts.filter((v) => v.verdict === "lost");
  expect(lost.map((v) => `${v.record.method} ${v.record.key}: ${v.reason}`)).toEqual([]);
  expect(result.commands.accepted).toBeGreaterThan(0);
  expect(result.readModels.differences.slice(0, 20)).toEqual([]);
  expect(result.readModels.postgres.right).toBe(result.readModels.orders);
  expect(result.readModels.redis.right).toBe(result.readModels.orders);
  expect(result.stream.examples).toEqual([]);
  expect(result.stream.missing).toBe(0);
  expect(result.stream.messages).toBe(result.stream.storeHead);
}
