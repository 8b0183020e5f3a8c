import { randomUUID } from "node:crypto";
import { freePort, type RunningService, startService } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Consistency,
  expectConcurrentReadBack,
  expectReadYourWrites,
  getSummary as getSummaryOf,
  listOrders as listOrdersOf,
} from "./read-your-writes-checks.js";
import {
  type Accepted,
  type CallError,
  createClient,
  createOrder,
  metricsText,
  metricValue,
  type Stack,
  serviceEntry,
  startStack,
  statusOf,
} from "./stack.js";

// Read-your-writes through the real pipeline: every service a process, real Postgres, NATS and Redis.
// The main query-service gets a generous wait budget, so these tests check correctness (a read with min_position
// succeeds on its first call and shows the write), not the speed of a busy machine; a second query-service with
// the default 500 ms budget checks the budget itself.

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ queryEnv: { QUERY_MAX_WAIT_MS: "20000" } });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

const getSummary = (orderId: string, minPosition: string, deadlineMs?: number) =>
  getSummaryOf(stack, orderId, minPosition, deadlineMs);
const listOrders = (customerId: string, minPosition: string, pageToken = "") =>
  listOrdersOf(stack, customerId, minPosition, pageToken);

describe("read-your-writes", () => {
  it("300 × CreateOrder → GetOrderSummary, ListCustomerOrders, payment → GetOrderSummary: every read right first time", async () => {
    for (let i = 0; i < 300; i++) await expectReadYourWrites(stack, `rwy-${i}-${randomUUID()}`);
    const metrics = await metricsText(stack, "query-service");
    expect(metricValue(metrics, "query_wait_timeouts_total")).toBe(0);
    expect(metricValue(metrics, "query_command_to_visible_seconds_count")).toBeGreaterThan(0);
  }, 300_000);

  it("500 orders by 32 concurrent clients, each read back at once with min_position: zero failures", async () => {
    const customers = Array.from({ length: 16 }, () => `conc-${randomUUID()}`);
    const created = await expectConcurrentReadBack(stack, customers);
    // Every customer's list holds each of its orders exactly once, across pages.
    const head = String(Math.max(...created.map((a) => Number(a.position))));
    const listed: string[] = [];
    for (const customerId of customers) {
      let token = "";
      do {
        const page = await listOrders(customerId, head, token);
        listed.push(...page.orders.map((o) => o.order_id));
        token = page.next_page_token;
      } while (token !== "");
    }
    expect(listed.sort()).toEqual(created.map((a) => a.order_id).sort());
  }, 300_000);

  it("releases 1,000 concurrent waiters together when the position arrives", async () => {
    const head = await createOrder(stack, `head-${randomUUID()}`);
    await getSummary(head.order_id, head.position); // the pipeline is idle at `head`
    const orderId = randomUUID();
    const target = String(Number(head.position) + 1);
    const reads = Array.from({ length: 1_000 }, () => getSummary(orderId, target, 60_000));
    const settled = Promise.allSettled(reads);
    // All 1,000 are parked in the server before the position exists.
    await waitFor(async () => metricValue(await metricsText(stack, "query-service"), "query_waiters") === 1_000);

    const created = await stack.commands.unary<{ accepted: Accepted }>("CreateOrder", {
      idempotency_key: randomUUID(),
      order_id: orderId,
      customer_id: `waiters-${randomUUID()}`,
      currency: "EUR",
      items: [{ sku: "SKU-W", quantity: 1, unit_price_minor: "1" }],
    });
    expect(created.accepted.position).toBe(target);
    const results = await settled;
    const failed = results.filter((r) => r.status === "rejected");
    expect(failed.map((f) => String((f as PromiseRejectedResult).reason))).toEqual([]);
    for (const r of results) {
      if (r.status === "fulfilled") expect(r.value.summary.order_id).toBe(orderId);
    }
    await waitFor(async () => metricValue(await metricsText(stack, "query-service"), "query_waiters") === 0);
  }, 180_000);

  it("WaitForPosition: positions at once, then DEADLINE_EXCEEDED at the caller's 1 s deadline", async () => {
    const messages: Record<string, unknown>[] = [];
    const call = stack.queries.stream(
      "WaitForPosition",
      { min_position: "999999999", read_models: [] },
      { deadlineMs: 1_000 },
    );
    const started = Date.now();
    const code = await new Promise<number>((resolve) => {
      call.on("data", (m: Record<string, unknown>) => messages.push(m));
      call.on("error", (error: CallError) => resolve(error.code));
      call.on("end", () => resolve(0));
    });
    expect(code).toBe(4); // DEADLINE_EXCEEDED
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(messages.length).toBeGreaterThanOrEqual(1);
    const first = messages[0] as { read_models: Consistency[]; reached: boolean };
    expect(first.reached).toBe(false);
    expect(first.read_models.map((m) => m.read_model)).toEqual(["order_summaries", "customer_orders"]);
    await waitFor(async () => metricValue(await metricsText(stack, "query-service"), "query_wait_streams") === 0);
  }, 60_000);

  it("WaitForPosition ends with reached = true once the write is in every read model", async () => {
    const created = await createOrder(stack, `wfp-${randomUUID()}`);
    const call = stack.queries.stream("WaitForPosition", { min_position: created.position, read_models: [] });
    const messages: { read_models: Consistency[]; reached: boolean }[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on("data", (m: { read_models: Consistency[]; reached: boolean }) => messages.push(m));
      call.on("error", reject);
      call.on("end", resolve);
    });
    const last = messages.at(-1);
    expect(last?.reached).toBe(true);
    expect(messages.filter((m) => m.reached)).toHaveLength(1);
    for (const model of last?.read_models ?? []) {
      expect(Number(model.position)).toBeGreaterThanOrEqual(Number(created.position));
    }
    expect(
      await statusOf(stack.queries.unary("GetOrderSummary", { order_id: created.order_id, min_position: "0" })),
    ).toBe("OK");
  });

  it("rejects bad input with INVALID_ARGUMENT", async () => {
    const bad: [string, Record<string, unknown>][] = [
      ["GetOrderSummary", { order_id: "", min_position: "0" }],
      ["GetOrderSummary", { order_id: "nope", min_position: "0" }],
      ["GetOrderSummary", { order_id: randomUUID(), min_position: "-1" }],
      ["ListCustomerOrders", { customer_id: "", page_size: 0 }],
      ["ListCustomerOrders", { customer_id: "x".repeat(129), page_size: 0 }],
      ["ListCustomerOrders", { customer_id: "c", page_size: 101 }],
      ["ListCustomerOrders", { customer_id: "c", page_size: -1 }],
      ["ListCustomerOrders", { customer_id: "c", page_token: "tampered.token" }],
    ];
    for (const [method, request] of bad) {
      expect(await statusOf(stack.queries.unary(method, request)), `${method} ${JSON.stringify(request)}`).toBe(
        "INVALID_ARGUMENT",
      );
    }
    const stream = stack.queries.stream("WaitForPosition", { min_position: "1", read_models: ["nope"] });
    const code = await new Promise<number>((resolve) => {
      stream.on("error", (error: CallError) => resolve(error.code));
      stream.on("end", () => resolve(0));
      stream.on("data", () => {});
    });
    expect(code).toBe(3); // INVALID_ARGUMENT
    expect(await statusOf(getSummary(randomUUID(), "1"))).toBe("NOT_FOUND");
  });
});

describe("the default wait budget", () => {
  let second: RunningService;
  let secondPort: number;

  beforeAll(async () => {
    secondPort = await freePort();
    const metricsPort = await freePort();
    second = await startService({
      name: "query-service-default-budget",
      entry: serviceEntry("query-service"),
      env: { ...stack.env.env, QUERY_PORT: String(secondPort), METRICS_PORT: String(metricsPort), LOG_FORMAT: "json" },
      readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
      readyTimeoutMs: 60_000,
    });
  }, 90_000);

  afterAll(async () => {
    await second?.stop();
  });

  it("answers UNAVAILABLE after about 500 ms for a position far in the future, with position and lag", async () => {
    const queries = await createClient("QueryService", secondPort);
    try {
      const started = Date.now();
      const error = (await queries
        .unary("GetOrderSummary", { order_id: randomUUID(), min_position: "999999999" })
        .catch((e: unknown) => e)) as CallError;
      const elapsed = Date.now() - started;
      expect(error.code).toBe(14); // UNAVAILABLE
      expect(error.details).toMatch(/order_summaries is at position \d+ with lag \d+\.\d{3} s/);
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(20_000); // well before the 30 s call deadline: the budget ended it
    } finally {
      queries.close();
    }
  });
});

describe("a stopped projector", () => {
  it("queries without min_position still answer from the last state and report a growing lag", async () => {
    const known = await createOrder(stack, `stale-${randomUUID()}`);
    await getSummary(known.order_id, known.position);
    await listOrders((await getSummary(known.order_id, "0")).summary.customer_id, known.position);

    await stack.services.get("projector-postgres")?.stop();
    await stack.services.get("projector-redis")?.stop();
    const unseen = await createOrder(stack, `unseen-${randomUUID()}`);

    const first = await getSummary(known.order_id, "0");
    expect(Number(first.consistency.position)).toBeLessThan(Number(unseen.position));
    await new Promise((r) => setTimeout(r, 1_200));
    const second = await getSummary(known.order_id, "0");
    expect(second.consistency.position).toBe(first.consistency.position);
    expect(second.consistency.lag_seconds).toBeGreaterThan(first.consistency.lag_seconds);
    expect(second.consistency.lag_seconds).toBeGreaterThanOrEqual(1);

    const customerId = first.summary.customer_id;
    const list1 = await listOrders(customerId, "0");
    expect(list1.orders.map((o) => o.order_id)).toEqual([known.order_id]);
    await new Promise((r) => setTimeout(r, 500));
    const list2 = await listOrders(customerId, "0");
    expect(Number(list2.consistency.position)).toBeLessThan(Number(unseen.position));
    expect(list2.consistency.lag_seconds).toBeGreaterThan(list1.consistency.lag_seconds);

    // A read of the unseen write cannot succeed meanwhile; after a restart it does.
    await stack.start("projector-postgres");
    await stack.start("projector-redis");
    const caughtUp = await getSummary(unseen.order_id, unseen.position);
    expect(caughtUp.summary.order_id).toBe(unseen.order_id);
    await waitFor(async () => (await getSummary(known.order_id, "0")).consistency.lag_seconds === 0);
  }, 180_000);
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("condition not met in time");
}
