import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import { readStackConfig } from "@orderly/observability";
import {
  customerOrdersKeys,
  ensurePostgresLayout,
  ensureRedisLayout,
  migrateReadModels,
  ORDER_SUMMARIES,
  ORDER_SUMMARIES_VERSION,
} from "@orderly/order-read-models";
import { appendHistories, dropCustomerOrders, generateOrderHistories } from "@orderly/order-read-models/testing";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { EXIT_FINDING, EXIT_OK } from "./command.js";
import { commands } from "./commands.js";
import { openContext } from "./context.js";
import { progressFactory } from "./progress.js";
import type { ComponentStatus, StatusReport } from "./status.js";

let env: TestEnvironment;
let pool: pg.Pool;

async function orderly(...argv: string[]) {
  return orderlyIn(env, ...argv);
}

async function orderlyIn(environment: TestEnvironment, ...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const stack = readStackConfig(environment.env);
  const code = await runCli(
    argv,
    commands,
    ({ json }) => openContext({ stack, json, progress: progressFactory(false), note: () => {} }),
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
  );
  return { code, stdout, stderr };
}

beforeAll(async () => {
  env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
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

describe("pnpm orderly status, partitioned read models (ADR 0019)", () => {
  it("reports every partition's checkpoint, the lowest as the read model's position, and flags a partition ahead of the store", async () => {
    const own = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
    const ownPool = createPool(own.databaseUrl, { max: 2 });
    const redis = new Redis(own.redisUrl);
    try {
      await migrateEventStore(ownPool);
      await migrateReadModels(ownPool);
      const head = await appendHistories(new PostgresEventStore(ownPool), generateOrderHistories(30, 5));
      await ensurePostgresLayout(ownPool, ORDER_SUMMARIES, 2, ORDER_SUMMARIES_VERSION);
      const keys = customerOrdersKeys(own.namespace);
      await redis.set(keys.current, "1");
      await ensureRedisLayout(redis, own.namespace, 4);
      const g = keys.generation("1");
      const setSummaries = (name: string, position: number) =>
        ownPool.query("update projection_checkpoints set position = $2 where name = $1", [name, position]);

      // Every partition behind or at the store: exit 0, the read model at its lowest partition.
      await setSummaries(ORDER_SUMMARIES, head);
      await setSummaries(`${ORDER_SUMMARIES}.p1`, 10);
      await redis.mset(`${g}:checkpoint`, "7", `${g}:checkpoint:p1`, "9", `${g}:checkpoint:p2`, "3");
      await redis.set(`${g}:checkpoint:p3`, String(head));
      const ok = await orderlyIn(own, "status", "--json");
      expect(ok.code, ok.stdout).toBe(EXIT_OK);
      const fine = JSON.parse(ok.stdout) as StatusReport;
      const component = (report: StatusReport, name: string) =>
        report.components.find((c) => c.component.includes(name)) as ComponentStatus;
      expect(component(fine, ORDER_SUMMARIES)).toMatchObject({ state: "ok", position: 10, lag: head - 10 });
      expect(component(fine, ORDER_SUMMARIES).partitions?.map((p) => [p.partition, p.state, p.position])).toEqual([
        [0, "ok", head],
        [1, "ok", 10],
      ]);
      expect(component(fine, "customer_orders")).toMatchObject({ state: "ok", position: 3 });
      expect(component(fine, "customer_orders").partitions?.map((p) => p.position)).toEqual([7, 9, 3, head]);

      // Partition 1 of order_summaries and partition 3 of customer_orders ahead of the store (it went back): exit 1,
      // one finding each, naming the partition, though both read models' lowest partitions are fine.
      await setSummaries(`${ORDER_SUMMARIES}.p1`, head + 500);
      await redis.set(`${g}:checkpoint:p3`, String(head + 900));
      const ahead = await orderlyIn(own, "status", "--json");
      expect(ahead.code).toBe(EXIT_FINDING);
      const report = JSON.parse(ahead.stdout) as StatusReport;
      expect(report.findings).toHaveLength(2);
      expect(report.findings[0]).toMatch(new RegExp(`order_summaries.* partition 1: ahead .*at ${head + 500}`));
      expect(report.findings[1]).toMatch(new RegExp(`customer_orders.* partition 3: ahead .*at ${head + 900}`));
      expect(component(report, ORDER_SUMMARIES)).toMatchObject({ state: "ahead", position: head });
      expect(component(report, ORDER_SUMMARIES).partitions?.[1]).toMatchObject({
        state: "ahead",
        position: head + 500,
      });
      expect(component(report, "customer_orders")).toMatchObject({ state: "ahead", position: 3 });
      const text = await orderlyIn(own, "status");
      expect(text.code).toBe(EXIT_FINDING);
      expect(text.stdout).toMatch(new RegExp(`\\n  partition 1 +ahead +at ${head + 500} `));
      expect(text.stdout).toMatch(new RegExp(`\\n  partition 3 +ahead +at ${head + 900} `));
      expect(text.stdout).toContain("2 finding(s)");
    } finally {
      redis.disconnect();
      await ownPool.end();
      await own.cleanup();
    }
  });
});
