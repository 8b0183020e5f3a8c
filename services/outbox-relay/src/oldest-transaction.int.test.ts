import { createTestEnvironment, freePort, type TestEnvironment } from "@orderly/testing";
import pg from "pg";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OLDEST_TRANSACTION_METRIC, registerOldestTransactionAge } from "./oldest-transaction.js";

let env: TestEnvironment;
let other: TestEnvironment;

beforeAll(async () => {
  [env, other] = await Promise.all([createTestEnvironment(), createTestEnvironment()]);
});
afterAll(async () => {
  await Promise.all([env?.cleanup(), other?.cleanup()]);
});

async function sample(registry: Registry): Promise<{ labels: Record<string, unknown>; value: number }[]> {
  const metric = await registry.getSingleMetric(OLDEST_TRANSACTION_METRIC)?.get();
  return (metric?.values ?? []).map((v) => ({ labels: v.labels, value: v.value }));
}

async function session(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(OLDEST_TRANSACTION_METRIC, () => {
  it("is the age of the oldest open transaction in this database only; idle sessions do not count", async () => {
    const registry = new Registry();
    const gauge = registerOldestTransactionAge(registry, { databaseUrl: env.databaseUrl });
    const database = new URL(env.databaseUrl).pathname.slice(1);
    const idle = await session(env.databaseUrl);
    const elsewhere = await session(other.databaseUrl);
    const holder = await session(env.databaseUrl);
    try {
      // Another database's long transaction and this database's idle session: 0.
      await elsewhere.query("begin");
      await elsewhere.query("select txid_current()");
      await sleep(1200);
      expect(await sample(registry)).toEqual([{ labels: { datname: database }, value: 0 }]);

      // An open transaction here, idle in transaction like a forgotten psql session.
      await holder.query("begin");
      await holder.query("select 1");
      await sleep(1500);
      const [open] = await sample(registry);
      expect(open?.labels).toEqual({ datname: database });
      expect(open?.value).toBeGreaterThanOrEqual(1.4);
      expect(open?.value).toBeLessThan(30);

      await holder.query("commit");
      const [after] = await sample(registry);
      expect(after?.value).toBe(0);
    } finally {
      await Promise.all([idle.end(), elsewhere.end(), holder.end()]);
      await gauge.close();
    }
  });

  it("is absent, not stale, while the database cannot be asked; a scrape does not hang", async () => {
    const registry = new Registry();
    const errors: unknown[] = [];
    const gauge = registerOldestTransactionAge(registry, {
      databaseUrl: `postgres://root@127.0.0.1:${await freePort()}/nowhere`,
      timeoutMs: 500,
      onError: (error) => errors.push(error),
    });
    const started = Date.now();
    const text = await registry.metrics();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(text).not.toMatch(new RegExp(`^${OLDEST_TRANSACTION_METRIC}\\{`, "m"));
    expect(errors.length).toBe(1);
    await gauge.close();
  });
});
