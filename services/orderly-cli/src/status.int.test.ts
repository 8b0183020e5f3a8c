import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import { readStackConfig } from "@orderly/observability";
import { customerOrdersKeys, migrateReadModels } from "@orderly/order-read-models";
import { appendHistories, generateOrderHistories } from "@orderly/order-read-models/testing";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { EXIT_FINDING, EXIT_OK } from "./command.js";
import { commands } from "./commands.js";
import { openContext } from "./context.js";
import { progressFactory } from "./progress.js";
import type { StatusReport } from "./status.js";

let env: TestEnvironment;
let pool: pg.Pool;

async function orderly(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const stack = readStackConfig(env.env);
  const code = await runCli(
    argv,
    commands,
    ({ json }) => openContext({ stack, json, progress: progressFactory(false), note: () => {} }),
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
  );
  return { code, stdout, stderr };
}

beforeAll(async () => {
  env = await createTestEnvironment();
  pool = createPool(env.databaseUrl, { max: 4 });
  await migrateEventStore(pool);
  await migrateReadModels(pool);
});

afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

describe("pnpm orderly status", () => {
  it("shows the store's head and every component's lag; exit 0 while nothing is ahead of the store", async () => {
    const store = new PostgresEventStore(pool);
    const head = await appendHistories(store, generateOrderHistories(40, 3));
    const { code, stdout } = await orderly("status", "--json");
    expect(code).toBe(EXIT_OK);
    const report = JSON.parse(stdout) as StatusReport;
    expect(report.store.head).toBe(head);
    expect(report.findings).toEqual([]);
    const summaries = report.components.find((c) => c.component.includes("order_summaries"));
    expect(summaries).toMatchObject({ state: "ok", position: 0, lag: head });
    const text = await orderly("status");
    expect(text.stdout).toContain(`head ${head}`);
  });

  it("exits 1 and names the component when one is ahead of the store (the store went back)", async () => {
    const redis = new Redis(env.redisUrl);
    try {
      const keys = customerOrdersKeys(env.namespace);
      await redis.set(keys.current, "1");
      await redis.set(`${keys.generation("1")}:checkpoint`, "100000");
      const { code, stdout } = await orderly("status", "--json");
      expect(code).toBe(EXIT_FINDING);
      const report = JSON.parse(stdout) as StatusReport;
      expect(report.findings).toHaveLength(1);
      expect(report.findings[0]).toMatch(/customer_orders.*ahead.*at 100000/);
    } finally {
      redis.disconnect();
    }
  });
});
