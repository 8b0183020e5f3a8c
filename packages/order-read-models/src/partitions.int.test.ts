import { randomUUID } from "node:crypto";
import { partitionOf } from "@orderly/eventsourcing";
import { Projector, rebuildProjection } from "@orderly/projector";
import { eventually } from "@orderly/testing";
import { describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
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
import { listAllPages, useReadModelTestbed } from "./test-store.js";
import { appendHistories, generateOrderHistories } from "./testing.js";
import { foldEventLog } from "./verification.js";
import { ORDER_SUMMARIES, ORDER_SUMMARIES_VERSION } from "./versions.js";

// Partitioned read models (ADR 0019): each partition applies only its orders and moves its own checkpoint over every
// event; the read model's position is the lowest partition's; a changed count is refused unless rebuilt.
const bed = useReadModelTestbed(async () => {
  await appendHistories(bed.store, generateOrderHistories(2000, 11));
});
const N = 4;

function projectorOf(projection: OrderSummariesProjection | CustomerOrdersProjection): Projector {
  const projector = new Projector({ projection, eventLog: bed.eventLog, tickMs: 50, catchUpBatchSize: 500 });
  bed.projectors.push(projector);
  return projector;
}

const summaries = (index: number) =>
  projectorOf(new OrderSummariesProjection(bed.pool, { partition: { index, count: N } }));
const lists = (index: number) =>
  projectorOf(
    new CustomerOrdersProjection(bed.redis, {
      namespace: bed.env.namespace,
      pool: bed.pool,
      partition: { index, count: N },
    }),
  );

async function positions(): Promise<Record<string, number>> {
  const rows = await bed.pool.query<{ name: string; position: string }>(
    "select name, position from projection_checkpoints where name like 'order_summaries%' order by name",
  );
  return Object.fromEntries(rows.rows.map((r) => [r.name, Number(r.position)]));
}

describe("partitioned order_summaries", () => {
  it("partition 0 alone applies only its orders, moves its checkpoint to the head, and holds the read model's position at the others'", async () => {
    await ensurePostgresLayout(bed.pool, ORDER_SUMMARIES, N, ORDER_SUMMARIES_VERSION);
    expect(await positions()).toEqual({
      order_summaries: 0,
      "order_summaries.p1": 0,
      "order_summaries.p2": 0,
      "order_summaries.p3": 0,
    });
    const head = await bed.store.headPosition();
    await summaries(0).start();
    await eventually(async () => (await positions()).order_summaries === head, "partition 0 at the head", 30_000);
    const rows = await bed.pool.query<{ order_id: string }>("select order_id from order_summaries");
    expect(rows.rowCount).toBeGreaterThan(0);
    for (const row of rows.rows) expect(partitionOf(row.order_id, N)).toBe(0);
    expect(await new PostgresCheckpointReader(bed.pool).checkpoint()).toBe(0);
    // GetOrderSummary's shortcut: the owning partition's checkpoint.
    const reader = new PostgresOrderSummaryReader(bed.pool);
    expect(await reader.partitionCheckpoint((rows.rows[0] as { order_id: string }).order_id)).toBe(head);
    let other = randomUUID();
    while (partitionOf(other, N) !== 1) other = randomUUID();
    expect(await reader.partitionCheckpoint(other)).toBe(0);
    // What `orderly verify` compares: the lowest partition's checkpoint, rows up to the furthest one's as moved on.
    const snapshot = await readOrderSummariesSnapshot(bed.pool);
    expect(snapshot.mark.position).toBe(0);
    expect(snapshot.movedTo).toBe(head);
  });

  it("with every partition running, the read model equals a fold of the store and its position is the head", async () => {
    for (const i of [1, 2, 3]) await summaries(i).start();
    const head = await bed.store.headPosition();
    const reader = new PostgresCheckpointReader(bed.pool);
    await eventually(async () => (await reader.checkpoint()) === head, "every partition at the head", 30_000);
    expect(Object.values(await positions())).toEqual([head, head, head, head]);
    const expected = await foldEventLog(bed.store, head);
    const rows = await bed.pool.query("select order_id from order_summaries");
    expect(rows.rowCount).toBe(expected.size);
    const summariesReader = new PostgresOrderSummaryReader(bed.pool);
    for (const s of expected.values()) {
      const actual = await summariesReader.getOrderSummary(s.orderId);
      expect(actual && canonicalSummary(actual)).toBe(canonicalSummary(s));
    }
  });

  it("refuses another partition count once data is applied (naming the rebuild), and so does a writer of another count", async () => {
    await expect(ensurePostgresLayout(bed.pool, ORDER_SUMMARIES, 2, ORDER_SUMMARIES_VERSION)).rejects.toThrow(
      /laid out for 4 partition\(s\), but PROJECTOR_PARTITIONS=2: changing the count needs a rebuild/,
    );
    await expect(ensurePostgresLayout(bed.pool, ORDER_SUMMARIES, 1, ORDER_SUMMARIES_VERSION)).rejects.toBeInstanceOf(
      PartitionLayoutError,
    );
    await expect(new OrderSummariesProjection(bed.pool).checkpoint()).rejects.toBeInstanceOf(PartitionLayoutError);
    await ensurePostgresLayout(bed.pool, ORDER_SUMMARIES, N, ORDER_SUMMARIES_VERSION);
  });

  it("a rebuild lays it out for a new count, every partition at the rebuilt position; the old writers stop", async () => {
    const before = await bed.store.headPosition();
    await appendHistories(bed.store, generateOrderHistories(300, 12));
    const result = await rebuildProjection(
      new OrderSummariesRebuild(bed.pool, bed.eventLog, ORDER_SUMMARIES_VERSION, { partitions: 2 }),
      bed.eventLog,
    );
    expect(result.position).toBeGreaterThan(before);
    const after = await positions();
    expect(Object.keys(after)).toEqual(["order_summaries", "order_summaries.p1"]);
    expect(after.order_summaries).toBe(after["order_summaries.p1"]);
    // The 4-partition writers find their layout gone: never applied again.
    await expect(
      new OrderSummariesProjection(bed.pool, { partition: { index: 3, count: 4 } }).checkpoint(),
    ).rejects.toThrow(PartitionLayoutError);
    for (const p of bed.projectors.splice(0)) await p.stop();
  });
});

async function listAll(customerId: string): Promise<OrderSummaryView[]> {
  return listAllPages(new RedisCustomerOrdersReader(bed.redis, bed.env.namespace), customerId, 50);
}

describe("partitioned customer_orders", () => {
  it("each partition moves its own checkpoint; the position is the lowest; all together equal a fold", async () => {
    const reader = new RedisCheckpointReader(bed.redis, bed.env.namespace);
    const head = await bed.store.headPosition();
    await lists(0).start();
    const keys = customerOrdersKeys(bed.env.namespace);
    const gen = (await bed.redis.get(keys.current)) as string;
    expect(await bed.redis.get(`${keys.generation(gen)}:partitions`)).toBe("4");
    await eventually(
      async () => Number(await bed.redis.get(`${keys.generation(gen)}:checkpoint`)) === head,
      "partition 0 at the head",
      30_000,
    );
    expect(await reader.checkpoint()).toBe(0);
    expect(await bed.redis.get(`${keys.generation(gen)}:checkpoint:p3`)).toBe("0");
    for (const i of [1, 2, 3]) await lists(i).start();
    await eventually(async () => (await reader.checkpoint()) === head, "every partition at the head", 30_000);
    const expected = await foldEventLog(bed.store, head);
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
    await expect(ensureRedisLayout(bed.redis, bed.env.namespace, 2)).rejects.toThrow(/laid out for 4 partition/);
    await expect(
      new CustomerOrdersProjection(bed.redis, {
        namespace: bed.env.namespace,
        pool: bed.pool,
        partition: { index: 0, count: 2 },
      }).checkpoint(),
    ).rejects.toBeInstanceOf(PartitionLayoutError);
    for (const p of bed.projectors.splice(0)) await p.stop();
    const result = await rebuildProjection(
      new CustomerOrdersRebuild(bed.redis, bed.env.namespace, bed.eventLog, { partitions: 2 }),
      bed.eventLog,
    );
    const keys = customerOrdersKeys(bed.env.namespace);
    const g = keys.generation((await bed.redis.get(keys.current)) as string);
    expect(await bed.redis.mget(`${g}:partitions`, `${g}:checkpoint`, `${g}:checkpoint:p1`)).toEqual([
      "2",
      String(result.position),
      String(result.position),
    ]);
    expect(await new RedisCheckpointReader(bed.redis, bed.env.namespace).checkpoint()).toBe(result.position);
    await ensureRedisLayout(bed.redis, bed.env.namespace, 2);
  });
});
