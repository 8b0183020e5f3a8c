import { randomUUID } from "node:crypto";
import type { Position } from "@orderly/eventsourcing";
import { testMetadata } from "@orderly/eventsourcing/testing";
import {
  type Logger,
  type Projection,
  Projector,
  type RebuildTarget,
  rebuildProjection,
  stopAtUnknownTypes,
  type UnknownEventPolicy,
  unknownEventPolicy,
} from "@orderly/projector";
import { eventually } from "@orderly/testing";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { RedisCustomerOrdersReader } from "./customer-orders-readers.js";
import { CustomerOrdersRebuild, rebuildCustomerOrders } from "./customer-orders-rebuild.js";
import { OrderSummariesProjection } from "./order-summaries.js";
import { OrderSummariesRebuild, rebuildOrderSummaries } from "./order-summaries-rebuild.js";
import type { OrderSummaryView } from "./order-summary.js";
import { rowToSummary } from "./order-summary-rows.js";
import { PostgresOrderSummaryReader } from "./postgres-readers.js";
import { useReadModelTestbed } from "./test-store.js";
import { readGeneration } from "./testing.js";
import { checksumSummaries } from "./verification.js";

// Events of types this release does not know (as a newer release would write them), appended to the real store:
// PROJECTOR_UNKNOWN_EVENT_TYPES=skip passes over them (counted, logged once per type, checkpoint past them, ready),
// stop (the default) stops at the first as at a poison event. Both projections, each in its own namespace. Rebuilds
// (`orderly rebuild`, a version change) honour the same policy.

const bed = useReadModelTestbed(async () => {
  await appendHistory();
});
const customerId = `c-${randomUUID()}`;
const orders = [randomUUID(), randomUUID()];
let firstUnknown: Position;
let head: Position;
/** Each order's PaymentReceived, the last event of its stream. */
const paidAt = new Map<string, Position>();

/** OrderPlaced, a future OrderGiftWrapped, PaymentReceived on each order; a future CustomerRegistered in between. */
async function appendHistory(): Promise<void> {
  for (const orderId of orders) {
    await bed.store.append({
      streamId: `order-${orderId}`,
      expectedVersion: "no_stream",
      events: [
        {
          event: {
            type: "OrderPlaced",
            data: {
              orderId,
              customerId,
              currency: "EUR",
              items: [{ sku: "a", quantity: 2, unitPriceMinor: 5 }],
              totalMinor: 10,
            },
          },
          metadata: testMetadata(),
        },
      ],
    });
  }
  const wrapped: Position[] = [];
  for (const orderId of orders) {
    const outcome = await bed.store.append({
      streamId: `order-${orderId}`,
      expectedVersion: 1,
      events: [{ event: { type: "OrderGiftWrapped", data: { paper: "gold" } }, metadata: testMetadata() }],
    });
    wrapped.push(outcome.position);
  }
  await bed.store.append({
    streamId: `customer-${randomUUID()}`,
    expectedVersion: "no_stream",
    events: [{ event: { type: "CustomerRegistered", data: { name: "x" } }, metadata: testMetadata() }],
  });
  for (const orderId of orders) {
    const outcome = await bed.store.append({
      streamId: `order-${orderId}`,
      expectedVersion: 2,
      events: [
        {
          event: { type: "PaymentReceived", data: { amountMinor: 10, paymentReference: "p" } },
          metadata: testMetadata(),
        },
      ],
    });
    paidAt.set(orderId, outcome.position);
  }
  firstUnknown = Math.min(...wrapped);
  head = await bed.store.headPosition();
}

function captureLogger(lines: { msg: string; obj: Record<string, unknown> }[]): Logger {
  const push = (obj: object, msg?: string) => lines.push({ msg: msg ?? "", obj: obj as Record<string, unknown> });
  return { info: push, warn: push, error: push };
}

function startProjector(projection: Projection): Projector {
  const projector = new Projector({
    projection,
    eventLog: bed.eventLog,
    tickMs: 50,
    poisonRetryMs: 200,
    retryBaseMs: 5,
    maxAttempts: 2,
  });
  bed.projectors.push(projector);
  return projector;
}

describe("events of a type the projectors do not know", () => {
  it("stop (the default): both projections stop at the first one, as at a poison event", async () => {
    // Each in a table / namespace of its own, so the skip test below starts from nothing.
    const postgres = startProjector(
      new OrderSummariesProjection(bed.pool, {
        table: "order_summaries_stop",
        checkpointName: "stop_test",
        announce: false,
      }),
    );
    const redisProjector = startProjector(
      new CustomerOrdersProjection(bed.redis, { namespace: bed.env.ownRedisNamespace(`${bed.env.namespace}:stop`) }),
    );
    await bed.pool.query("create table order_summaries_stop (like order_summaries including all)");
    await postgres.start();
    await redisProjector.start();
    for (const projector of [postgres, redisProjector]) {
      await eventually(() => projector.status().poisoned?.position === firstUnknown, "poisoned", 30_000);
      expect(projector.status().poisoned?.error).toMatch(/OrderGiftWrapped.*unknown event type/);
      expect(projector.status().checkpoint).toBe(firstUnknown - 1);
      expect(projector.ready()).toBe(false);
      await projector.stop();
    }
  });

  it("skip: both projections pass over them, count them by type, log each type once, stay ready", async () => {
    const registry = new Registry();
    const lines: { msg: string; obj: Record<string, unknown> }[] = [];
    const logger = captureLogger(lines);
    const postgres = startProjector(
      new OrderSummariesProjection(bed.pool, {
        unknownTypes: unknownEventPolicy("skip", { projection: "order_summaries", registry, logger }),
      }),
    );
    const redisProjector = startProjector(
      new CustomerOrdersProjection(bed.redis, {
        namespace: bed.env.namespace,
        unknownTypes: unknownEventPolicy("skip", { projection: "customer_orders", registry, logger }),
      }),
    );
    await postgres.start();
    await redisProjector.start();
    for (const projector of [postgres, redisProjector]) {
      await eventually(
        () => projector.status().checkpoint === head,
        `${projector.status().projection} at ${head}`,
        30_000,
      );
      expect(projector.ready()).toBe(true);
      expect(projector.status().poisoned).toBeUndefined();
    }
    // The orders' known events around the skipped ones applied (PaymentReceived follows on past the gift wrap).
    const summaries = new PostgresOrderSummaryReader(bed.pool);
    for (const orderId of orders) {
      const summary = await summaries.getOrderSummary(orderId);
      expect(summary).toMatchObject({ status: "paid", paidMinor: 10, version: 3 });
    }
    const listed = await new RedisCustomerOrdersReader(bed.redis, bed.env.namespace).listCustomerOrders(customerId, {
      limit: 10,
    });
    expect(listed.orders.map((o) => [o.status, o.version])).toEqual([
      ["paid", 3],
      ["paid", 3],
    ]);
    // Counted per projection and type; one line per type and projection, though OrderGiftWrapped came twice.
    await expectSkipsReported(registry, lines);
  });
});

/** Both read models as they stand: order_summaries' rows, and the summaries of `namespace`'s live generation. */
async function readModels(namespace: string): Promise<{ postgres: OrderSummaryView[]; redis: OrderSummaryView[] }> {
  const rows = await bed.pool.query("select * from order_summaries");
  const keys = customerOrdersKeys(namespace);
  const gen = await bed.redis.get(keys.current);
  const redisSummaries = gen === null ? [] : [...(await readGeneration(bed.redis, keys.generation(gen))).values()];
  return { postgres: rows.rows.map(rowToSummary), redis: redisSummaries };
}

/** The orders as the known events alone make them: placed, then paid, at the stream version past the gift wrap. */
function expectFoldWithoutUnknown(summaries: readonly OrderSummaryView[]): void {
  expect(summaries.map((s) => s.orderId).sort()).toEqual([...orders].sort());
  for (const summary of summaries) {
    expect(summary).toMatchObject({
      customerId,
      status: "paid",
      paymentStatus: "paid",
      totalMinor: 10,
      paidMinor: 10,
      itemCount: 2,
      version: 3,
      lastPosition: paidAt.get(summary.orderId),
    });
  }
}

/** The skip policy of a projector process, counting into `registry` and logging into `lines`. */
function skipPolicies(lines: { msg: string; obj: Record<string, unknown> }[]) {
  const registry = new Registry();
  const logger = captureLogger(lines);
  const policy = (projection: string): UnknownEventPolicy =>
    unknownEventPolicy("skip", { projection, registry, logger });
  return { registry, postgres: policy("order_summaries"), redis: policy("customer_orders") };
}

/** Counted once per skipped event (a rebuild's verification does not count again); one warn line per type. */
async function expectSkipsReported(registry: Registry, lines: { msg: string; obj: Record<string, unknown> }[]) {
  const metrics = await registry.getSingleMetricAsString("projector_unknown_events_skipped_total");
  for (const projection of ["order_summaries", "customer_orders"]) {
    expect(metrics).toContain(`{projection="${projection}",type="OrderGiftWrapped"} 2`);
    expect(metrics).toContain(`{projection="${projection}",type="CustomerRegistered"} 1`);
  }
  const skipLines = lines.filter((l) => l.msg.startsWith("skipping events of a type"));
  expect(skipLines.map((l) => `${l.obj.projection} ${l.obj.type}`).sort()).toEqual([
    "customer_orders CustomerRegistered",
    "customer_orders OrderGiftWrapped",
    "order_summaries CustomerRegistered",
    "order_summaries OrderGiftWrapped",
  ]);
}

/** A target without its bulk replay: the rebuild applies every batch through `applyToShadow` (the swap's catch-up). */
function batchByBatch(target: RebuildTarget): RebuildTarget {
  return {
    name: target.name,
    dropShadow: () => target.dropShadow(),
    createShadow: () => target.createShadow(),
    applyToShadow: (events, after) => target.applyToShadow(events, after),
    verify: (position) => target.verify(position),
    swap: (at, catchUp) => target.swap(at, catchUp),
    dropOld: () => target.dropOld(),
  };
}

describe("rebuilds of a store holding events of a type this code does not know", () => {
  const namespace = () => bed.env.ownRedisNamespace(`${bed.env.namespace}:rebuild`);

  it("stop (the default): both rebuilds refuse at the first one and leave the live read models as they were", async () => {
    const before = await readModels(namespace());
    for (const unknownTypes of [undefined, stopAtUnknownTypes]) {
      const options = unknownTypes ? { unknownTypes } : {};
      await expect(rebuildOrderSummaries(bed.pool, options)).rejects.toThrow(/OrderGiftWrapped.*unknown event type/);
      await expect(rebuildCustomerOrders(bed.redis, namespace(), bed.pool, options)).rejects.toThrow(
        /OrderGiftWrapped.*unknown event type/,
      );
    }
    expect(await readModels(namespace())).toEqual(before);
    // Nothing of the shadows is left: no table, no key of the namespace (which had none before).
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, found] = await bed.redis.scan(cursor, "MATCH", `{${namespace()}}:*`, "COUNT", 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== "0");
    expect(keys).toEqual([]);
    const shadows = await bed.pool.query("select tablename from pg_tables where tablename like 'order_summaries_%'");
    expect(shadows.rows.map((r) => r.tablename).filter((t) => t !== "order_summaries_stop")).toEqual([]);
  }, 60_000);

  it("skip: both rebuilds complete, equal a fold without the unknown events, count and log them", async () => {
    const lines: { msg: string; obj: Record<string, unknown> }[] = [];
    const { registry, postgres, redis: redisPolicy } = skipPolicies(lines);
    const results = [
      await rebuildOrderSummaries(bed.pool, { unknownTypes: postgres }),
      await rebuildCustomerOrders(bed.redis, namespace(), bed.pool, { unknownTypes: redisPolicy }),
    ];
    for (const result of results) {
      expect(result.position).toBe(head);
      expect(result.verification).toMatchObject({ rows: 2, expectedRows: 2 });
    }
    const models = await readModels(namespace());
    expectFoldWithoutUnknown(models.postgres);
    expectFoldWithoutUnknown(models.redis);
    expect(checksumSummaries(models.redis)).toEqual(checksumSummaries(models.postgres));
    await expectSkipsReported(registry, lines);
  }, 60_000);

  it("skip: the same through the shadow's batch apply (the path of the swap's catch-up)", async () => {
    const lines: { msg: string; obj: Record<string, unknown> }[] = [];
    const { registry, postgres, redis: redisPolicy } = skipPolicies(lines);
    const targets = [
      new OrderSummariesRebuild(bed.pool, bed.eventLog, undefined, { unknownTypes: postgres }),
      new CustomerOrdersRebuild(bed.redis, namespace(), bed.eventLog, { unknownTypes: redisPolicy }),
    ];
    for (const target of targets) {
      const result = await rebuildProjection(batchByBatch(target), bed.eventLog, { batchSize: 2 });
      expect(result.position).toBe(head);
    }
    const models = await readModels(namespace());
    expectFoldWithoutUnknown(models.postgres);
    expectFoldWithoutUnknown(models.redis);
    await expectSkipsReported(registry, lines);
  }, 60_000);
});
