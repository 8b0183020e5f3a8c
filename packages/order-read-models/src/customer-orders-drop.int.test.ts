import { PostgresEventLog } from "@orderly/event-store-postgres";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { dropCustomerOrders } from "./customer-orders-drop.js";
import { customerOrdersKeys, generationKeys } from "./customer-orders-keys.js";
import { openReadModelStore, type ReadModelStore } from "./test-store.js";
import { appendHistories, generateOrderHistories } from "./testing.js";
import { foldEventLog } from "./verification.js";

// A test's cleanup on the shared Redis deletes customer_orders by name (its own index), never by SCAN: every key the
// projection wrote is gone afterwards, and nothing else.

let env: TestEnvironment;
let opened: ReadModelStore;
let redis: Redis;

beforeAll(async () => {
  env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  opened = await openReadModelStore(env.databaseUrl);
  await appendHistories(opened.store, generateOrderHistories(400, 5));
  redis = new Redis(env.redisUrl);
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  await opened?.store.close();
  await opened?.pool.end();
  await env?.cleanup();
});

describe("dropCustomerOrders", () => {
  it.each([1, 2])("removes every key of a namespace's read model (%i partitions), and no other key", async (count) => {
    const namespace = env.ownRedisNamespace(`${env.namespace}:drop${count}`);
    const events = await new PostgresEventLog(opened.pool).readAll(0, 10_000);
    for (let index = 0; index < count; index++) {
      const projection = new CustomerOrdersProjection(redis, { namespace, partition: { index, count } });
      await projection.checkpoint();
      await projection.apply(events, 0);
    }
    const keys = customerOrdersKeys(namespace);
    const g = keys.generation((await redis.get(keys.current)) as string);
    const k = generationKeys(g);
    const orders = [...(await foldEventLog(opened.store, events.length)).values()];
    const names = [keys.current, k.checkpoint, k.mark, k.customers, k.counts, k.listed];
    if (count > 1) names.push(`${g}:partitions`, `${g}:checkpoint:p1`, `${g}:mark:p1`);
    for (const o of orders) names.push(k.order(o.orderId), k.customer(o.customerId));
    const unique = [...new Set(names)];
    expect(await redis.exists(...unique)).toBe(unique.length);
    const neighbour = `{${namespace}x}:customer_orders:current`;
    await redis.set(neighbour, "1");

    expect(await dropCustomerOrders(redis, namespace)).toBe(unique.length);
    expect(await redis.exists(...unique)).toBe(0);
    expect(await redis.exists(neighbour)).toBe(1);
    await redis.del(neighbour);
  });
});
