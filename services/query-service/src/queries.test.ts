import { randomUUID } from "node:crypto";
import { DomainError } from "@orderly/eventsourcing";
import { describe, expect, it } from "vitest";
import { InMemoryReadModels } from "./in-memory-read-models.js";
import { LagClock } from "./lag.js";
import { PageTokens } from "./page-token.js";
import { PositionWatcher } from "./position-watcher.js";
import { Queries, type QueriesOptions, type WaitProgress } from "./queries.js";
import type { OrderSummaryView } from "./read-models.js";

async function setup(options: Partial<QueriesOptions> = {}) {
  const models = new InMemoryReadModels();
  const watchers = {
    order_summaries: new PositionWatcher({
      name: "order_summaries",
      checkpoints: models.summariesCheckpoint,
      pollIntervalMs: 0,
    }),
    customer_orders: new PositionWatcher({
      name: "customer_orders",
      checkpoints: models.customerOrdersCheckpoint,
      pollIntervalMs: 0,
    }),
  };
  await watchers.order_summaries.start();
  await watchers.customer_orders.start();
  const visible: number[] = [];
  const waited: string[] = [];
  const queries = new Queries({
    summaries: models,
    customerOrders: models,
    watchers,
    lag: new LagClock(models, { cacheMs: 0 }),
    pageTokens: new PageTokens("unit-test-secret-0123456789"),
    observer: { visible: (_m, p) => visible.push(p), waited: (_m, o) => waited.push(o) },
    ...options,
  });
  return { models, watchers, queries, visible, waited };
}

let nextPosition = 1;
function view(overrides: Partial<OrderSummaryView> = {}): OrderSummaryView {
  const position = nextPosition++;
  return {
    orderId: randomUUID(),
    customerId: "customer-1",
    status: "placed",
    paymentStatus: "pending",
    currency: "EUR",
    totalMinor: 1_000,
    paidMinor: 0,
    itemCount: 1,
    version: 1,
    createdAt: new Date(1_700_000_000_000 + position * 1_000),
    updatedAt: new Date(1_700_000_000_000 + position * 1_000),
    lastPosition: position,
    ...overrides,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
}

async function drain(stream: AsyncGenerator<WaitProgress>): Promise<WaitProgress[]> {
  const messages: WaitProgress[] = [];
  for await (const message of stream) messages.push(message);
  return messages;
}

describe("GetOrderSummary", () => {
  it("answers without waiting when min_position is 0, with the read model's position and lag", async () => {
    const { models, watchers, queries } = await setup();
    const order = view();
    models.put(order);
    watchers.order_summaries.advance(3);
    models.commits.set(4, new Date(Date.now() - 2_000)); // event 4 committed 2 s ago, not applied yet
    const result = await queries.getOrderSummary({ orderId: order.orderId, minPosition: 0 });
    expect(result.summary).toEqual(order);
    expect(result.consistency.readModel).toBe("order_summaries");
    expect(result.consistency.position).toBe(3);
    expect(result.consistency.lagSeconds).toBeGreaterThanOrEqual(2);
    expect(result.consistency.lagSeconds).toBeLessThan(60);
  });

  it("reports lag 0 when no event follows the checkpoint", async () => {
    const { models, queries } = await setup();
    const order = view();
    models.put(order);
    const result = await queries.getOrderSummary({ orderId: order.orderId.toUpperCase(), minPosition: 0 });
    expect(result.consistency).toEqual({ readModel: "order_summaries", position: 0, lagSeconds: 0 });
  });

  it("waits for min_position, then reads the new state", async () => {
    const { models, watchers, queries, visible } = await setup();
    const order = view();
    const pending = queries.getOrderSummary({ orderId: order.orderId, minPosition: 8 }, {});
    await new Promise((r) => setTimeout(r, 20));
    expect(queries.waitingCount).toBe(1);
    models.put(order);
    watchers.order_summaries.advance(8);
    const result = await pending;
    expect(result.summary.orderId).toBe(order.orderId);
    expect(result.consistency.position).toBe(8);
    expect(queries.waitingCount).toBe(0);
    expect(visible).toEqual([8]);
  });

  it("partitioned: answers as soon as the order's own partition has applied min_position, the slowest one not", async () => {
    const models = new InMemoryReadModels();
    const own = { position: 0 };
    const reader = {
      getOrderSummary: (id: string) => models.getOrderSummary(id),
      partitionCheckpoint: async () => own.position,
    };
    const { watchers, queries } = await setup({ summaries: reader, maxWaitMs: 100 });
    watchers.order_summaries.advance(3);
    const order = view();
    models.put(order);
    // Its partition at 9: no wait, although the read model (the lowest partition) is at 3.
    own.position = 9;
    const started = Date.now();
    expect((await queries.getOrderSummary({ orderId: order.orderId, minPosition: 9 })).summary.orderId).toBe(
      order.orderId,
    );
    expect(Date.now() - started).toBeLessThan(90);
    // Its partition behind too: waits for the read model, and UNAVAILABLE when neither gets there.
    own.position = 5;
    expect(await codeOf(queries.getOrderSummary({ orderId: order.orderId, minPosition: 9 }))).toBe("unavailable");
    // Its partition gets there during the wait: asked again when the budget runs out, answered.
    const pending = queries.getOrderSummary({ orderId: order.orderId, minPosition: 12 });
    await new Promise((r) => setTimeout(r, 20));
    own.position = 12;
    expect((await pending).summary.orderId).toBe(order.orderId);
  });

  it("NOT_FOUND only once min_position is reached; UNAVAILABLE with position and lag when the budget runs out", async () => {
    const { models, watchers, queries, waited } = await setup({ maxWaitMs: 100 });
    watchers.order_summaries.advance(4);
    models.commits.set(5, new Date(Date.now() - 1_500));
    const started = Date.now();
    const error = await queries.getOrderSummary({ orderId: randomUUID(), minPosition: 1_000_000 }).catch((e) => e);
    const elapsed = Date.now() - started;
    expect(error.code).toBe("unavailable");
    expect(error.message).toMatch(/order_summaries is at position 4 with lag \d+\.\d{3} s/);
    expect(error.message).toContain("min_position 1000000");
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(waited).toEqual(["timeout"]);
    expect(watchers.order_summaries.waiterCount).toBe(0);
    expect(watchers.order_summaries.timerCount).toBe(0);
    expect(await codeOf(queries.getOrderSummary({ orderId: randomUUID(), minPosition: 4 }))).toBe("not_found");
  });

  it("never waits past the caller's deadline", async () => {
    const { queries } = await setup({ maxWaitMs: 10_000 });
    const started = Date.now();
    const error = await queries
      .getOrderSummary({ orderId: randomUUID(), minPosition: 10 }, { deadline: Date.now() + 80 })
      .catch((e) => e);
    expect(error.code).toBe("unavailable");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("stops waiting when the caller cancels", async () => {
    const { watchers, queries } = await setup();
    const controller = new AbortController();
    const pending = queries.getOrderSummary({ orderId: randomUUID(), minPosition: 10 }, { signal: controller.signal });
    controller.abort();
    expect(await codeOf(pending)).toBe("unavailable");
    expect(watchers.order_summaries.waiterCount).toBe(0);
  });

  it("releases 1,000 concurrent read-your-writes queries together when the position arrives", async () => {
    const { models, watchers, queries } = await setup({ maxWaitMs: 30_000 });
    const order = view();
    const pending = Array.from({ length: 1_000 }, () =>
      queries.getOrderSummary({ orderId: order.orderId, minPosition: 50 }),
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(queries.waitingCount).toBe(1_000);
    expect(watchers.order_summaries.waiterCount).toBe(1_000);
    models.put(order);
    watchers.order_summaries.advance(50);
    expect(watchers.order_summaries.waiterCount).toBe(0);
    const results = await Promise.all(pending);
    expect(results.every((r) => r.summary.orderId === order.orderId)).toBe(true);
    expect(queries.waitingCount).toBe(0);
    expect(watchers.order_summaries.timerCount).toBe(0);
  });

  it("refuses waiters beyond the cap with RESOURCE_EXHAUSTED", async () => {
    const { watchers, queries } = await setup({ maxWaiters: 2 });
    const a = queries.getOrderSummary({ orderId: randomUUID(), minPosition: 5 });
    const b = queries.getOrderSummary({ orderId: randomUUID(), minPosition: 5 });
    await new Promise((r) => setTimeout(r, 10));
    expect(await codeOf(queries.getOrderSummary({ orderId: randomUUID(), minPosition: 5 }))).toBe("resource_exhausted");
    // Reads that need no wait are never refused.
    expect(await codeOf(queries.getOrderSummary({ orderId: randomUUID(), minPosition: 0 }))).toBe("not_found");
    watchers.order_summaries.advance(5);
    expect(await codeOf(a)).toBe("not_found");
    expect(await codeOf(b)).toBe("not_found");
  });

  it("rejects bad input with INVALID_ARGUMENT", async () => {
    const { queries } = await setup();
    for (const orderId of ["", "not-a-uuid", `${randomUUID()}x`, "00000000000000000000000000000000"]) {
      expect(await codeOf(queries.getOrderSummary({ orderId, minPosition: 0 })), orderId).toBe("invalid_argument");
    }
    expect(await codeOf(queries.getOrderSummary({ orderId: randomUUID(), minPosition: -1 }))).toBe("invalid_argument");
  });

  it("reports a failing reader as UNAVAILABLE", async () => {
    const { models, queries } = await setup();
    models.failWith = new Error("connection terminated");
    expect(await codeOf(queries.getOrderSummary({ orderId: randomUUID(), minPosition: 0 }))).toBe("unavailable");
  });
});

describe("ListCustomerOrders", () => {
  it("pages newest first with stable tokens while new orders arrive", async () => {
    const { models, queries } = await setup();
    const customerId = `c-${randomUUID()}`;
    const orders = Array.from({ length: 45 }, () => view({ customerId }));
    for (const o of orders) models.put(o);
    models.put(view({ customerId: "someone-else" }));
    const newestFirst = [...orders].reverse().map((o) => o.orderId);

    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await queries.listCustomerOrders({ customerId, pageSize: 0, pageToken: token, minPosition: 0 });
      expect(page.consistency.readModel).toBe("customer_orders");
      seen.push(...page.orders.map((o) => o.orderId));
      token = page.nextPageToken;
      // New orders after the first page must not shift the pages that follow.
      if (pages === 0) for (let i = 0; i < 5; i++) models.put(view({ customerId }));
      pages++;
    } while (token !== "");
    expect(pages).toBe(3);
    expect(seen).toEqual(newestFirst);
  });

  it("honours page_size 1-100 and rejects anything else", async () => {
    const { models, queries } = await setup();
    const customerId = `c-${randomUUID()}`;
    for (let i = 0; i < 120; i++) models.put(view({ customerId }));
    const request = { customerId, pageToken: "", minPosition: 0 };
    expect((await queries.listCustomerOrders({ ...request, pageSize: 0 })).orders).toHaveLength(20);
    expect((await queries.listCustomerOrders({ ...request, pageSize: 1 })).orders).toHaveLength(1);
    expect((await queries.listCustomerOrders({ ...request, pageSize: 100 })).orders).toHaveLength(100);
    for (const pageSize of [-1, 101, 1_000]) {
      expect(await codeOf(queries.listCustomerOrders({ ...request, pageSize })), String(pageSize)).toBe(
        "invalid_argument",
      );
    }
  });

  it("rejects a tampered token, a token of another customer and a token of another page size", async () => {
    const { models, queries } = await setup();
    const customerId = `c-${randomUUID()}`;
    for (let i = 0; i < 5; i++) models.put(view({ customerId }));
    const first = await queries.listCustomerOrders({ customerId, pageSize: 2, pageToken: "", minPosition: 0 });
    expect(first.nextPageToken).not.toBe("");
    const token = first.nextPageToken;
    const request = { customerId, pageSize: 2, minPosition: 0 };
    expect(await codeOf(queries.listCustomerOrders({ ...request, pageToken: token }))).toBe("ok");
    expect(await codeOf(queries.listCustomerOrders({ ...request, pageToken: `x${token}` }))).toBe("invalid_argument");
    expect(await codeOf(queries.listCustomerOrders({ ...request, pageToken: "garbage" }))).toBe("invalid_argument");
    expect(await codeOf(queries.listCustomerOrders({ ...request, customerId: "other", pageToken: token }))).toBe(
      "invalid_argument",
    );
    expect(await codeOf(queries.listCustomerOrders({ ...request, pageSize: 3, pageToken: token }))).toBe(
      "invalid_argument",
    );
  });

  it("rejects an empty or overlong customer id and a negative position", async () => {
    const { queries } = await setup();
    const request = { pageSize: 0, pageToken: "", minPosition: 0 };
    expect(await codeOf(queries.listCustomerOrders({ ...request, customerId: "" }))).toBe("invalid_argument");
    expect(await codeOf(queries.listCustomerOrders({ ...request, customerId: "x".repeat(129) }))).toBe(
      "invalid_argument",
    );
    expect(await codeOf(queries.listCustomerOrders({ ...request, customerId: "x".repeat(128) }))).toBe("ok");
    expect(await codeOf(queries.listCustomerOrders({ ...request, customerId: "c", minPosition: -5 }))).toBe(
      "invalid_argument",
    );
  });

  it("waits for min_position on customer_orders, not on order_summaries", async () => {
    const { models, watchers, queries } = await setup();
    const customerId = `c-${randomUUID()}`;
    const pending = queries.listCustomerOrders({ customerId, pageSize: 0, pageToken: "", minPosition: 3 });
    watchers.order_summaries.advance(3);
    await new Promise((r) => setTimeout(r, 10));
    expect(watchers.customer_orders.waiterCount).toBe(1);
    models.put(view({ customerId }));
    watchers.customer_orders.advance(3);
    const page = await pending;
    expect(page.orders).toHaveLength(1);
    expect(page.consistency.position).toBe(3);
  });
});

describe("WaitForPosition", () => {
  it("sends the current positions at once, changes at most every interval, and a final reached message", async () => {
    const { watchers, queries } = await setup({ streamIntervalMs: 50 });
    const messages: { at: number; progress: WaitProgress }[] = [];
    const started = Date.now();
    const done = (async () => {
      for await (const progress of queries.waitForPosition({ minPosition: 10, readModels: [] })) {
        messages.push({ at: Date.now() - started, progress });
      }
    })();
    await new Promise((r) => setTimeout(r, 10));
    expect(messages).toHaveLength(1);
    expect(messages[0]?.progress.reached).toBe(false);
    expect(messages[0]?.progress.readModels.map((m) => m.readModel)).toEqual(["order_summaries", "customer_orders"]);
    for (let p = 1; p <= 9; p++) watchers.order_summaries.advance(p); // a burst: one message, not nine
    await new Promise((r) => setTimeout(r, 120));
    watchers.order_summaries.advance(10);
    watchers.customer_orders.advance(12);
    await done;
    const last = messages.at(-1)?.progress;
    expect(last?.reached).toBe(true);
    expect(last?.readModels.map((m) => m.position)).toEqual([10, 12]);
    expect(messages.filter((m) => m.progress.reached)).toHaveLength(1);
    const updates = messages.slice(1, -1);
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(updates.length).toBeLessThanOrEqual(2);
    for (let i = 1; i < messages.length - 1; i++) {
      expect((messages[i]?.at ?? 0) - (messages[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(45);
    }
    expect(queries.streamCount).toBe(0);
  });

  it("ends with reached at once when the position is already there", async () => {
    const { watchers, queries } = await setup();
    watchers.customer_orders.advance(5);
    const messages = await drain(queries.waitForPosition({ minPosition: 5, readModels: ["customer_orders"] }));
    expect(messages).toEqual([
      { readModels: [{ readModel: "customer_orders", position: 5, lagSeconds: 0 }], reached: true },
    ]);
  });

  it("rejects an unknown read model and a negative position", async () => {
    const { queries } = await setup();
    expect(await codeOf(drain(queries.waitForPosition({ minPosition: 1, readModels: ["orders"] })))).toBe(
      "invalid_argument",
    );
    expect(await codeOf(drain(queries.waitForPosition({ minPosition: -1, readModels: [] })))).toBe("invalid_argument");
  });

  it("ends quietly when the caller cancels, leaving no listeners or streams", async () => {
    const { watchers, queries } = await setup();
    const controller = new AbortController();
    const messages: WaitProgress[] = [];
    const done = (async () => {
      for await (const m of queries.waitForPosition(
        { minPosition: 100, readModels: [] },
        { signal: controller.signal },
      ))
        messages.push(m);
    })();
    await new Promise((r) => setTimeout(r, 20));
    expect(queries.streamCount).toBe(1);
    controller.abort();
    await done;
    expect(messages).toHaveLength(1);
    expect(queries.streamCount).toBe(0);
    const seen: number[] = [];
    watchers.order_summaries.onChange((p) => seen.push(p));
    watchers.order_summaries.advance(1);
    expect(seen).toEqual([1]); // only our own listener remains
  });

  it("fails with UNAVAILABLE after the server's maximum", async () => {
    const { queries } = await setup({ streamMaxMs: 100 });
    const started = Date.now();
    expect(await codeOf(drain(queries.waitForPosition({ minPosition: 100, readModels: [] })))).toBe("unavailable");
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    expect(queries.streamCount).toBe(0);
  });

  it("refuses streams beyond the cap", async () => {
    const { watchers, queries } = await setup({ maxWaiters: 1 });
    const first = drain(queries.waitForPosition({ minPosition: 1, readModels: [] }));
    await new Promise((r) => setTimeout(r, 10));
    expect(await codeOf(drain(queries.waitForPosition({ minPosition: 1, readModels: [] })))).toBe("resource_exhausted");
    watchers.order_summaries.advance(1);
    watchers.customer_orders.advance(1);
    expect((await first).at(-1)?.reached).toBe(true);
  });

  it("releases 1,000 concurrent streams together when the position arrives", async () => {
    const { watchers, queries } = await setup();
    const streams = Array.from({ length: 1_000 }, () =>
      drain(queries.waitForPosition({ minPosition: 7, readModels: ["order_summaries"] })),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(queries.streamCount).toBe(1_000);
    watchers.order_summaries.advance(7);
    const results = await Promise.all(streams);
    expect(results.every((messages) => messages.at(-1)?.reached === true)).toBe(true);
    expect(queries.streamCount).toBe(0);
  });
});
