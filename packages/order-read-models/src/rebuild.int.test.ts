import { randomUUID } from "node:crypto";
import { StoreContinuity } from "@orderly/event-store-postgres";
import type { EventMetadata, RecordedEvent } from "@orderly/eventsourcing";
import type { OrderEvent } from "@orderly/orders-domain";
import { Projector, type RebuildProgress } from "@orderly/projector";
import { describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { RedisCustomerOrdersReader } from "./customer-orders-readers.js";
import { rebuildCustomerOrders } from "./customer-orders-rebuild.js";
import { OrderSummariesProjection } from "./order-summaries.js";
import { rebuildOrderSummaries } from "./order-summaries-rebuild.js";
import { canonicalSummary, evolveSummary, type OrderSummaryView } from "./order-summary.js";
import { rowToSummary } from "./order-summary-rows.js";
import { bothCaughtUp, useReadModelTestbed } from "./test-store.js";
import { appendHistories, generateOrderHistories, type OrderHistory, readGeneration } from "./testing.js";

const bed = useReadModelTestbed(async () => {
  await appendHistories(bed.store, [...edgeCaseHistories(), ...generateOrderHistories(4000, 21)]);
});

/** Orders at the edges: every event type, odd line items, strings that need escaping everywhere. */
function edgeCaseHistories(): OrderHistory[] {
  const at = (ms: number) => new Date(Date.UTC(2026, 10, 2) + ms);
  const order = (
    customerId: string,
    items: { sku: string; quantity: number; unitPriceMinor: number }[],
    later: OrderEvent[],
    totalMinor = items.reduce((sum, i) => sum + i.quantity * i.unitPriceMinor, 0),
    currency = "EUR",
  ): OrderHistory => {
    const orderId = randomUUID();
    const commandId = randomUUID();
    const metadata = (i: number): EventMetadata => ({
      eventId: randomUUID(),
      commandId,
      correlationId: commandId,
      causationId: commandId,
      // Milliseconds that must survive every path; orders placed at the same one: the list falls back to positions.
      occurredAt: at(1000 * i + 7),
      // Who placed it (placed_by), with what a token's sub may hold; every other order without (auth off).
      ...(i === 0 && customerId.length % 2 === 0 ? { actor: `svc-ü "${customerId}"\twith\nbreaks` } : {}),
    });
    const placed: OrderEvent = { type: "OrderPlaced", data: { orderId, customerId, currency, items, totalMinor } };
    return {
      orderId,
      customerId,
      events: [placed, ...later].map((event, i) => ({ event, metadata: metadata(i) })),
    };
  };
  const pay = (amountMinor: number) => ({ amountMinor, paymentReference: 'ref "quoted" \\ back\tslash' });
  const one = [{ sku: "sku-1", quantity: 1, unitPriceMinor: 100 }];
  return [
    order("edge-all-types", one, [
      { type: "PaymentAuthorized", data: pay(100) },
      { type: "PaymentFailed", data: pay(100) },
      { type: "PaymentAuthorized", data: pay(100) },
      { type: "PaymentReceived", data: pay(100) },
      { type: "OrderShipped", data: { carrier: "DHL", trackingNumber: "t-1" } },
      { type: "PaymentRefunded", data: pay(100) },
      { type: "OrderCancelled", data: { reason: "returned" } },
    ]),
    order(
      "edge-items",
      [
        { sku: "big", quantity: 1_000_000, unitPriceMinor: 1 },
        { sku: "zero", quantity: 0, unitPriceMinor: 999 },
        ...Array.from({ length: 40 }, (_, i) => ({ sku: `many-${i}`, quantity: 1, unitPriceMinor: 1 })),
      ],
      [{ type: "PaymentReceived", data: pay(1_000_040) }],
    ),
    order("edge-no-items", [], [{ type: "OrderCancelled", data: { reason: "empty" } }], 0),
    order(
      "edge-huge-total",
      one,
      [{ type: "PaymentReceived", data: pay(Number.MAX_SAFE_INTEGER) }],
      Number.MAX_SAFE_INTEGER,
    ),
    order(
      'edge "quote" \\ tab\there, ünïcødé ✓ 🚚',
      [{ sku: 'naïve\n"sku"', quantity: 3, unitPriceMinor: 7 }],
      [
        { type: "PaymentReceived", data: pay(21) },
        { type: "OrderShipped", data: { carrier: "Post\tNL", trackingNumber: "\u2028" } },
      ],
      21,
      "JPY",
    ),
    order("edge-same-time", one, []),
    order("edge-same-time", one, []),
  ];
}

async function freshFold(): Promise<Map<string, OrderSummaryView>> {
  // Through readAll (not readForFold): a reference that shares nothing with the rebuild but evolveSummary.
  const summaries = new Map<string, OrderSummaryView>();
  for (let at = 0; ; ) {
    const page = await bed.store.readAll(at, 5000);
    const last = page[page.length - 1];
    if (!last) return summaries;
    for (const e of page) {
      const id = e.streamId.slice("order-".length);
      summaries.set(id, evolveSummary(summaries.get(id), e));
    }
    at = last.position;
  }
}

async function expectBothEqualFold(): Promise<number> {
  const head = await bed.store.headPosition();
  const expected = await freshFold();
  const want = [...expected.values()].map(canonicalSummary).sort();
  const rows = await bed.pool.query("select * from order_summaries");
  expect(rows.rows.map((r) => canonicalSummary(rowToSummary(r))).sort()).toEqual(want);
  const current = await bed.redis.get(customerOrdersKeys(bed.env.namespace).current);
  const hashes = await readGeneration(bed.redis, customerOrdersKeys(bed.env.namespace).generation(current ?? ""));
  expect([...hashes.values()].map(canonicalSummary).sort()).toEqual(want);
  const reader = new RedisCustomerOrdersReader(bed.redis, bed.env.namespace);
  const byCustomer = new Map<string, OrderSummaryView[]>();
  for (const s of expected.values()) byCustomer.set(s.customerId, [...(byCustomer.get(s.customerId) ?? []), s]);
  for (const [customerId, orders] of [...byCustomer].slice(0, 200)) {
    const listed = await reader.listCustomerOrders(customerId, { limit: 1000 });
    const order = [...orders].sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.placedPosition - a.placedPosition,
    );
    expect(listed.orders.map(canonicalSummary)).toEqual(order.map(canonicalSummary));
  }
  return head;
}

function caughtUp(): Promise<number> {
  return bothCaughtUp(bed, bed.redis, bed.env.namespace, 90_000);
}

describe("fast rebuild", () => {
  it("reads for the fold exactly what readAll reads (every field the fold uses, every event)", async () => {
    const head = await bed.store.headPosition();
    const all: RecordedEvent[] = [];
    for (let at = 0; at < head; ) {
      const page = await bed.eventLog.readAll(at, 1000);
      all.push(...page);
      at = (page[page.length - 1] as RecordedEvent).position;
    }
    const fast = [];
    const marks: { position: number; eventId: string | undefined }[] = [];
    for (let at = 0; at < head; ) {
      const page = await bed.eventLog.readForFold(at, 777);
      fast.push(...page);
      const last = page[page.length - 1];
      if (last) marks.push({ position: last.position, eventId: last.metadata.eventId });
      at = last?.position ?? head;
    }
    for (const mark of marks) expect(mark.eventId).toBe(all[mark.position - 1]?.metadata.eventId);
    expect(fast.length).toBe(all.length);
    const types = new Set<string>();
    fast.forEach((f, i) => {
      const e = all[i] as RecordedEvent;
      types.add(e.type);
      expect([f.position, f.streamId, f.streamVersion, f.type, f.metadata.occurredAt.getTime()]).toEqual([
        e.position,
        e.streamId,
        e.streamVersion,
        e.type,
        e.metadata.occurredAt.getTime(),
      ]);
      if (e.type === "OrderPlaced" || e.type === "PaymentReceived") expect(f.data).toEqual(e.data);
      if (e.type === "OrderPlaced") expect(f.metadata.actor).toBe(e.metadata.actor);
    });
    expect(types.size).toBe(7);
  });

  it("rebuilds both while events are appended; the live projectors continue with no gap or double apply", async () => {
    const live = [
      new Projector({
        projection: new OrderSummariesProjection(bed.pool),
        eventLog: bed.eventLog,
        tickMs: 100,
        retryBaseMs: 5,
      }),
      new Projector({
        projection: new CustomerOrdersProjection(bed.redis, { namespace: bed.env.namespace, pool: bed.pool }),
        eventLog: bed.eventLog,
        tickMs: 100,
        retryBaseMs: 5,
      }),
    ];
    bed.projectors.push(...live);
    for (const p of live) await p.start();
    const headBefore = await caughtUp();
    const epochBefore = Number(
      (await bed.pool.query("select epoch from projection_checkpoints where name = 'order_summaries'")).rows[0]?.epoch,
    );

    // Small pages, an early quiet write and a tight memory bound: every path of the bulk fold runs.
    const fold = { pageSize: 500, writeBatch: 200, quietEvents: 1500, maxOrders: 400 };
    const progress: RebuildProgress[] = [];
    const appending = appendHistories(bed.store, generateOrderHistories(3000, 22), 16);
    const [pgResult, redisResult] = await Promise.all([
      rebuildOrderSummaries(bed.pool, { ...fold, onProgress: (p) => progress.push(p) }),
      rebuildCustomerOrders(bed.redis, bed.env.namespace, bed.pool, fold),
    ]);
    await appending;
    await caughtUp();

    // Both chased events appended while they ran.
    expect(pgResult.position).toBeGreaterThan(headBefore);
    expect(redisResult.position).toBeGreaterThan(headBefore);
    for (const result of [pgResult, redisResult]) {
      expect(result.verification?.rows).toBe(result.verification?.expectedRows);
      expect(result.verification?.checksum).toBe(result.verification?.expectedChecksum);
    }
    for (const p of live) {
      expect(p.status().poisoned).toBeUndefined();
      expect(p.status().failing).toBe(false);
    }
    const replay = progress.filter((p) => p.phase === "replay");
    expect(replay.length).toBeGreaterThan(10);
    for (let i = 1; i < replay.length; i++) {
      expect((replay[i] as RebuildProgress).done).toBeGreaterThanOrEqual((replay[i - 1] as RebuildProgress).done);
    }
    expect(progress[progress.length - 1]).toMatchObject({ phase: "done", done: pgResult.position });
    const epochAfter = Number(
      (await bed.pool.query("select epoch from projection_checkpoints where name = 'order_summaries'")).rows[0]?.epoch,
    );
    expect(epochAfter).toBe(epochBefore + 1);
    const tables = await bed.pool.query("select tablename from pg_tables where tablename like 'order_summaries%'");
    expect(tables.rows.map((r) => r.tablename)).toEqual(["order_summaries"]);

    // More events after the swap reach both rebuilt models through the live projectors.
    await appendHistories(bed.store, generateOrderHistories(500, 23), 16);
    await caughtUp();
    await expectBothEqualFold();
  }, 180_000);

  it("ends with checkpoints that carry the mark of the last event folded (live models behind the rebuild)", async () => {
    for (const p of bed.projectors.splice(0)) await p.stop();
    await appendHistories(bed.store, generateOrderHistories(300, 24), 16);
    const head = await bed.store.headPosition();
    const [last] = await bed.store.readAll(head - 1, 1);
    const storeId = await new StoreContinuity(bed.pool).storeId();
    const want = { position: head, eventId: last?.metadata.eventId, storeId };
    const pgResult = await rebuildOrderSummaries(bed.pool);
    const redisResult = await rebuildCustomerOrders(bed.redis, bed.env.namespace, bed.pool);
    expect([pgResult.position, redisResult.position]).toEqual([head, head]);
    expect(await new OrderSummariesProjection(bed.pool).checkpointMark()).toEqual(want);
    expect(await new CustomerOrdersProjection(bed.redis, { namespace: bed.env.namespace }).checkpointMark()).toEqual(
      want,
    );
    await expectBothEqualFold();
  }, 180_000);
});
