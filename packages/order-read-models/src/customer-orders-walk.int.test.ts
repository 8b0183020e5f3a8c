import { PostgresEventLog, type PostgresEventStore } from "@orderly/event-store-postgres";
import { createTestEnvironment, type RedisServer, startRedisServer, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { auditCustomerOrders } from "./customer-orders-integrity.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { rebuildCustomerOrders } from "./customer-orders-rebuild.js";
import { canonicalSummary } from "./order-summary.js";
import { readCustomerOrdersSnapshot } from "./snapshots.js";
import { closeAll, openReadModelStore } from "./test-store.js";
import { appendHistories, generateOrderHistories } from "./testing.js";
import { foldEventLog } from "./verification.js";

// The product reads and drops customer_orders generations through their own index, never by SCAN of a keyspace other
// tenants share. Proved on a Redis of the test's own (so that its command statistics are ours alone) that holds
// 200,000 foreign keys: a rebuild (with its verification and the old generation's drop), verify's snapshot, the audit
// and a projector dropping a damaged generation run no SCAN (nor KEYS), and the drops leave exactly the live
// generation's keys beside the foreign ones.

const FOREIGN = 200_000;
let env: TestEnvironment;
let own: RedisServer;
let pool: pg.Pool;
let redis: Redis;
let store: PostgresEventStore;

beforeAll(async () => {
  env = await createTestEnvironment();
  own = await startRedisServer();
  redis = new Redis(own.url);
  ({ pool, store } = await openReadModelStore(env.databaseUrl));
  await appendHistories(store, generateOrderHistories(2000, 5));
  for (let i = 0; i < FOREIGN; i += 10_000) {
    const pipeline = redis.pipeline();
    for (let j = i; j < i + 10_000; j += 1000) {
      const pairs: string[] = [];
      for (let n = j; n < j + 1000; n++) pairs.push(`other-tenant:${n % 7}:key:${n}`, "x");
      pipeline.mset(...pairs);
    }
    await pipeline.exec();
  }
  await redis.config("RESETSTAT");
}, 120_000);

afterAll(async () => {
  await closeAll({ projectors: [], store, redis, pool, env });
  await own?.close();
});

async function commandCalls(): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of ((await redis.info("commandstats")) as string).split("\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match) calls.set(match[1] as string, Number(match[2]));
  }
  return calls;
}

describe("customer_orders never SCANs a shared keyspace", () => {
  it("rebuilds, verifies, audits and drops generations through their index alone", async () => {
    const namespace = env.namespace;
    const keys = customerOrdersKeys(namespace);
    const eventLog = new PostgresEventLog(pool);
    const head = await eventLog.headPosition();
    const fold = await foldEventLog(eventLog, head);

    // Twice: the second swap drops the first generation (dropOld).
    for (let i = 0; i < 2; i++) {
      const result = await rebuildCustomerOrders(redis, namespace, pool, { pageSize: 500 });
      expect(result.verification?.checksum).toBe(result.verification?.expectedChecksum);
    }
    const snapshot = await readCustomerOrdersSnapshot(redis, namespace);
    expect(snapshot.listProblems).toEqual([]);
    expect(snapshot.summaries.size).toBe(fold.size);
    for (const [orderId, expected] of fold) {
      expect(canonicalSummary(snapshot.summaries.get(orderId) ?? expected)).toBe(canonicalSummary(expected));
      expect(snapshot.summaries.has(orderId)).toBe(true);
    }
    const audit = await auditCustomerOrders(redis, namespace);
    expect(audit.problem).toBeUndefined();

    // A projector dropping a generation it found damaged: make a copy of the live one by applying the log again.
    const projection = new CustomerOrdersProjection(redis, {
      namespace: `${namespace}:other`,
      checkIntervalMs: 3_600_000,
      auditPassMs: 0,
    });
    await projection.checkpoint();
    await projection.apply(await eventLog.readAll(0, head), 0);
    const extra = projection.generation as string;
    await projection.dropGeneration(extra);
    await redis.del(customerOrdersKeys(`${namespace}:other`).current);

    const calls = await commandCalls();
    expect(calls.get("scan")).toBeUndefined();
    expect(calls.get("keys")).toBeUndefined();
    expect(calls.get("sscan")).toBeGreaterThan(0);

    // What is left: the foreign keys, the pointer and the live generation (lists, hashes, index, entry counts, counts,
    // checkpoint, mark) — nothing of the dropped generations.
    const customers = new Set([...fold.values()].map((s) => s.customerId)).size;
    expect(await redis.get(keys.current)).not.toBeNull();
    expect(await redis.dbsize()).toBe(FOREIGN + 1 + fold.size + customers + 5);
  }, 120_000);
});
