import { randomUUID } from "node:crypto";
import type { PostgresEventLog, PostgresEventStore } from "@orderly/event-store-postgres";
import { partitionOf } from "@orderly/eventsourcing";
import { Projector, rebuildProjection } from "@orderly/projector";
import { createTestEnvironment, eventually, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { dropCustomerOrders } from "./customer-orders-drop.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { ensureRedisLayout } from "./customer-orders-partitions.js";
import { RedisCheckpointReader, RedisCustomerOrdersReader } from "./customer-orders-readers.js";
import { CustomerOrdersRebuild } from "./customer-orders-rebuild.js";
import { OrderSummariesProjection } from "./order-summaries.js";
import { OrderSummariesRebuild } from "./order-summaries-rebuild.js";
import { canonicalSummary, type OrderSummaryView } from "./order-summary.js";
import { ensurePostgresLayout, PartitionLayoutError } from "./partitions.js";
import { PostgresCheckpointReader, PostgresOrderSummaryReader } from "./postgres-readers.js";
import { readOrderSummariesSnapshot } from "./snapshots.js";
import { closeAll, openReadModelStore } from "./test-store.js";
import { appendHistories, generateOrderHistories } from "./testing.js";
import { foldEventLog } from "./verification.js";
import { ORDER_SUMMARIES, ORDER_SUMMARIES_VERSION } from "./versions.js";

// Partitioned read models (ADR 0019): each partition applies only its orders and moves its own checkpoint over every
// event; the read model's position is the lowest partition's; a changed count is refused unless rebuilt.
let env: TestEnvironment;
let pool: pg.Pool;
let redis: Redis;
let store: PostgresEventStore;
let eventLog: PostgresEventLog;
const projectors: Projector[] = [];
const N = 4;

function projectorOf(projection: OrderSummariesProjection | CustomerOrdersProjection): Projector {
  const projector = new Projector({ projection, eventLog, tickMs: 50, catchUpBatchSize: 500 });
  projectors.push(projector);
  return projector;
}

const summaries = (index: number) =>
  projectorOf(new OrderSummariesProjection(pool, { partition: { index, count: N } }));
const lists = (index: number) =>
  projectorOf(new CustomerOrdersProjection(redis, { namespace: env.namespace, pool, partition: { index, count: N } }));

async function positions(): Promise<Record<string, number>> {
  const rows = await pool.query<{ name: string; position: string }>(
    "select name, position from projection_checkpoints where name like 'order_summaries%' order by name",
  );
  return Object.fromEntries(rows.rows.map((r) => [r.name, Number(r.position)]));
}

beforeAll(async () => {
  env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  ({ pool, store, eventLog } = await openReadModelStore(env.databaseUrl));
  redis = new Redis(env.redisUrl);
  await appendHistories(store, generateOrderHistories(2000, 11));
});

afterAll(() => closeAll({ projectors, store, redis, pool, env }));

describe("partitioned order_summaries", () => {
  it("partition 0 alone applies only its orders, moves its checkpoint to the head, and holds the read model's position at the others'", async () => {
    await ensurePostgresLayout(pool, ORDER_SUMMARIES, N, ORDER_SUMMARIES_VERSION);
    expect(await positions()).toEqual({
      order_summaries: 0,
      "order_summaries.p1": 0,
      "order_summaries.p2": 0,
      "order_summaries.p3": 0,
    });
    const head = await store.headPosition();
    await summaries(0).start();
    await eventually(async () => (await positions()).order_summaries === head, "partition 0 at the head", 30_000);
    const rows = await pool.query<{ order_id: string }>("select order_id from order_summaries");
    expect(rows.rowCount).toBeGreaterThan(0);
    for (const row of rows.rows) expect(partitionOf(row.order_id, N)).toBe(0);
    expect(await new PostgresCheckpointReader(pool).checkpoint()).toBe(0);
    // GetOrderSummary's shortcut: the owning partition's checkpoint.
    const reader = new PostgresOrderSummaryReader(pool);
    expect(await reader.partitionCheckpoint((rows.rows[0] as { order_id: string }).order_id)).toBe(head);
    let other = randomUUID();
    while (partitionOf(other, N) !== 1) other = randomUUID();
    expect(await reader.partitionCheckpoint(other)).toBe(0);
    // What `orderly verify` compares: the lowest partition's checkpoint, rows up to the furthest one's as moved on.
    const snapshot = await readOrderSummariesSnapshot(pool);
    expect(snapshot.mark.position).toBe(0);
    expect(snapshot.movedTo).toBe(head);
  });

  it("with every partition running, the read model equals a fold of the store and its position is the head", async () => {
    for (const i of [1, 2, 3]) await summaries(i).start();
    const head = await store.headPosition();
    const reader = new PostgresCheckpointReader(pool);
    await eventually(async () => (await reader.checkpoint()) === head, "every partition at the head", 30_000);
    expect(Object.values(await positions())).toEqual([head, head, head, head]);
    const expected = await foldEventLog(store, head);
    const rows = await pool.query("select order_id from order_summaries");
    expect(rows.rowCount).toBe(expected.size);
    const summariesReader = new PostgresOrderSummaryReader(pool);
    for (const s of expected.values()) {
      const actual = await summariesReader.getOrderSummary(s.orderId);
      expect(actual && canonicalSummary(actual)).toBe(canonicalSummary(s));
    }
  });

  it("refuses another partition count once data is applied (naming the rebuild), and so does a writer of another count", async () => {
    await expect(ensurePostgresLayout(pool, ORDER_SUMMARIES, 2, ORDER_SUMMARIES_VERSION)).rejects.toThrow(
      /laid out for 4 partition\(s\), but PROJECTOR_PARTITIONS=2: changing the count needs a rebuild/,
    );
    await expect(ensurePostgresLayout(pool, ORDER_SUMMARIES, 1, ORDER_SUMMARIES_VERSION)).rejects.toBeInstanceOf(
      PartitionLayoutError,
    );
    await expect(new OrderSummariesProjection(pool).checkpoint()).rejects.toBeInstanceOf(PartitionLayoutError);
    await ensurePostgresLayout(pool, ORDER_SUMMARIES, N, ORDER_SUMMARIES_VERSION);
  });

  it("a rebuild lays it out for a new count, every partition at the rebuilt position; the old writers stop", async () => {
    const before = await store.headPosition();
    await appendHistories(store, generateOrderHistories(300, 12));
    const result = await rebuildProjection(
      new OrderSummariesRebuild(pool, eventLog, ORDER_SUMMARIES_VERSION, { partitions: 2 }),
      eventLog,
    );
    expect(result.position).toBeGreaterThan(before);
    const after = await positions();
    expect(Object.keys(after)).toEqual(["order_summaries", "order_summaries.p1"]);
    expect(after.order_summaries).toBe(after["order_summaries.p1"]);
    // The 4-partition writers find their layout gone: never applied again.
    await expect(
      new OrderSummariesProjection(pool, { partition: { index: 3, count: 4 } }).checkpoint(),
    ).rejects.toThrow(PartitionLayoutError);
    for (const p of projectors.splice(0)) await p.stop();
  });
});

async function listAll(customerId: string): Promise<OrderSummaryView[]> {
  const reader = new RedisCustomerOrdersReader(redis, env.namespace);
  const all: OrderSummaryView[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await reader.listCustomerOrders(
      customerId,
      after === undefined ? { limit: 50 } : { limit: 50, after },
    );
    all.push(...page.orders);
    if (!page.next) return all;
    after = page.next;
  }
}

describe("partitioned customer_orders", () => {
  it("each partition moves its own checkpoint; the position is the lowest; all together equal a fold", async () => {
    const reader = new RedisCheckpointReader(redis, env.namespace);
    const head = await store.headPosition();
    await lists(0).start();
    const keys = customerOrdersKeys(env.namespace);
    const gen = (await redis.get(keys.current)) as string;
    expect(await redis.get(`${keys.generation(gen)}:partitions`)).toBe("4");
    await eventually(
      async () => Number(await redis.get(`${keys.generation(gen)}:checkpoint`)) === head,
      "partition 0 at the head",
      30_000,
    );
    expect(await reader.checkpoint()).toBe(0);
    expect(await redis.get(`${keys.generation(gen)}:checkpoint:p3`)).toBe("0");
    for (const i of [1, 2, 3]) await lists(i).start();
    await eventually(async () => (await reader.checkpoint()) === head, "every partition at the head", 30_000);
    const expected = await foldEventLog(store, head);
    const byCustomer = new Map<string, OrderSummaryView[]>();
    for (const s of expected.values()) byCustomer.set(s.customerId, [...(byCustomer.get(s.customerId) ?? []), s]);
    for (const [customerId, orders] of byCustomer) {
      const listed = await listAll(customerId);
      const want = [...orders].sort(
        (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.placedPosition - a.placedPosition,
      );
      expect(listed.map(canonicalSummary)).toEqual(want.map(canonicalSummary));
    }
  });

  it("refuses another count once data is applied; a rebuild changes it", async () => {
    await expect(ensureRedisLayout(redis, env.namespace, 2)).rejects.toThrow(/laid out for 4 partition/);
    await expect(
      new CustomerOrdersProjection(redis, {
        namespace: env.namespace,
        pool,
        partition: { index: 0, count: 2 },
      }).checkpoint(),
    ).rejects.toBeInstanceOf(PartitionLayoutError);
    for (const p of projectors.splice(0)) await p.stop();
    const result = await rebuildProjection(
      new CustomerOrdersRebuild(redis, env.namespace, eventLog, { partitions: 2 }),
      eventLog,
    );
    const keys = customerOrdersKeys(env.namespace);
    const g = keys.generation((await redis.get(keys.current)) as string);
    expect(await redis.mget(`${g}:partitions`, `${g}:checkpoint`, `${g}:checkpoint:p1`)).toEqual([
      "2",
      String(result.position),
      String(result.position),
    ]);
    expect(await new RedisCheckpointReader(redis, env.namespace).checkpoint()).toBe(result.position);
    await ensureRedisLayout(redis, env.namespace, 2);
  });
});
