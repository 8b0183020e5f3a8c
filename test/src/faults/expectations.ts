import { eventually } from "@orderly/testing";
import { expect } from "vitest";
import { type CommandLog, checkCommands, checkReadModels, positions, type ReadModelReport } from "./checker.js";
import type { FaultStack } from "./fault-stack.js";
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

/**
 * Once both read models reached the store's head (or after two minutes: the checks then say what is missing): no
 * command of `log` lost, more than `minAccepted` accepted, both read models equal to a fold of the store row by row.
 */
export async function expectReadModelsConsistent(
  stack: FaultStack,
  redisUrl: string,
  log: CommandLog,
  minAccepted: number,
): Promise<ReadModelReport> {
  const { namespace } = stack.env;
  const databaseUrl = stack.databaseUrl();
  await eventually(
    async () => {
      const p = await positions(databaseUrl, redisUrl, namespace);
      return p.postgres >= p.head && p.redis >= p.head;
    },
    "both read models to reach the store head",
    120_000,
    250,
  ).catch(() => undefined); // the checks below say what is missing
  const commands = await checkCommands(databaseUrl, log.records);
  const lost = commands.verdicts.filter((v) => v.verdict === "lost");
  expect(lost.map((v) => `${v.record.method} ${v.record.key}: ${v.reason}`)).toEqual([]);
  expect(commands.accepted).toBeGreaterThan(minAccepted);
  const readModels = await checkReadModels(databaseUrl, redisUrl, namespace);
  expect(readModels.differences.slice(0, 20)).toEqual([]);
  expect(readModels.postgres.right).toBe(readModels.orders);
  expect(readModels.redis.right).toBe(readModels.orders);
  return readModels;
}
