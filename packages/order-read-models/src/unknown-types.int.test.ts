import { randomUUID } from "node:crypto";
import type { PostgresEventLog, PostgresEventStore } from "@orderly/event-store-postgres";
import type { Position } from "@orderly/eventsourcing";
import { testMetadata } from "@orderly/eventsourcing/testing";
import { type Logger, type Projection, Projector, unknownEventPolicy } from "@orderly/projector";
import { createTestEnvironment, eventually, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { RedisCustomerOrdersReader } from "./customer-orders-readers.js";
import { OrderSummariesProjection } from "./order-summaries.js";
import { PostgresOrderSummaryReader } from "./postgres-readers.js";
import { closeAll, openReadModelStore } from "./test-store.js";

// Events of types this release does not know (as a newer release would write them), appended to the real store:
// PROJECTOR_UNKNOWN_EVENT_TYPES=skip passes over them (counted, logged once per type, checkpoint past them, ready),
// stop (the default) stops at the first as at a poison event. Both projections, each in its own namespace.

let env: TestEnvironment;
let pool: pg.Pool;
let redis: Redis;
let store: PostgresEventStore;
let eventLog: PostgresEventLog;
const projectors: Projector[] = [];
const customerId = `c-${randomUUID()}`;
const orders = [randomUUID(), randomUUID()];
let firstUnknown: Position;
let head: Position;

/** OrderPlaced, a future OrderGiftWrapped, PaymentReceived on each order; a future CustomerRegistered in between. */
async function appendHistory(): Promise<void> {
  for (const orderId of orders) {
    await store.append({
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
    const outcome = await store.append({
      streamId: `order-${orderId}`,
      expectedVersion: 1,
      events: [{ event: { type: "OrderGiftWrapped", data: { paper: "gold" } }, metadata: testMetadata() }],
    });
    wrapped.push(outcome.position);
  }
  await store.append({
    streamId: `customer-${randomUUID()}`,
    expectedVersion: "no_stream",
    events: [{ event: { type: "CustomerRegistered", data: { name: "x" } }, metadata: testMetadata() }],
  });
  for (const orderId of orders) {
    await store.append({
      streamId: `order-${orderId}`,
      expectedVersion: 2,
      events: [
        {
          event: { type: "PaymentReceived", data: { amountMinor: 10, paymentReference: "p" } },
          metadata: testMetadata(),
        },
      ],
    });
  }
  firstUnknown = Math.min(...wrapped);
  head = await store.headPosition();
}

function captureLogger(lines: { msg: string; obj: Record<string, unknown> }[]): Logger {
  const push = (obj: object, msg?: string) => lines.push({ msg: msg ?? "", obj: obj as Record<string, unknown> });
  return { info: push, warn: push, error: push };
}

function startProjector(projection: Projection): Projector {
  const projector = new Projector({
    projection,
    eventLog,
    tickMs: 50,
    poisonRetryMs: 200,
    retryBaseMs: 5,
    maxAttempts: 2,
  });
  projectors.push(projector);
  return projector;
}

beforeAll(async () => {
  env = await createTestEnvironment();
  ({ pool, store, eventLog } = await openReadModelStore(env.databaseUrl));
  redis = new Redis(env.redisUrl);
  await appendHistory();
});

afterAll(() => closeAll({ projectors, store, redis, pool, env }));

describe("events of a type the projectors do not know", () => {
  it("stop (the default): both projections stop at the first one, as at a poison event", async () => {
    // Each in a table / namespace of its own, so the skip test below starts from nothing.
    const postgres = startProjector(
      new OrderSummariesProjection(pool, {
        table: "order_summaries_stop",
        checkpointName: "stop_test",
        announce: false,
      }),
    );
    const redisProjector = startProjector(new CustomerOrdersProjection(redis, { namespace: `${env.namespace}-stop` }));
    await pool.query("create table order_summaries_stop (like order_summaries including all)");
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
      new OrderSummariesProjection(pool, {
        unknownTypes: unknownEventPolicy("skip", { projection: "order_summaries", registry, logger }),
      }),
    );
    const redisProjector = startProjector(
      new CustomerOrdersProjection(redis, {
        namespace: env.namespace,
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
    const summaries = new PostgresOrderSummaryReader(pool);
    for (const orderId of orders) {
      const summary = await summaries.getOrderSummary(orderId);
      expect(summary).toMatchObject({ status: "paid", paidMinor: 10, version: 3 });
    }
    const listed = await new RedisCustomerOrdersReader(redis, env.namespace).listCustomerOrders(customerId, {
      limit: 10,
    });
    expect(listed.orders.map((o) => [o.status, o.version])).toEqual([
      ["paid", 3],
      ["paid", 3],
    ]);
    // Counted per projection and type; one line per type and projection, though OrderGiftWrapped came twice.
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
  });
});
