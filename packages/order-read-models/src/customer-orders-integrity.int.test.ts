import { PostgresEventLog, type PostgresEventStore } from "@orderly/event-store-postgres";
import type { RecordedEvent } from "@orderly/eventsourcing";
import { CheckpointMovedError, ProjectionHandlerError } from "@orderly/projector";
import { createTestEnvironment, eventually, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { dropCustomerOrders } from "./customer-orders-drop.js";
import {
  auditCustomerOrders,
  checkGeneration,
  checkGenerationCounts,
  RollingAudit,
} from "./customer-orders-integrity.js";
import { customerOrdersKeys, generationKeys } from "./customer-orders-keys.js";
import { listMember } from "./customer-orders-layout.js";
import { type OrderSummaryView, orderIdOf } from "./order-summary.js";
import { closeAll, openReadModelStore } from "./test-store.js";
import { appendHistories, generateOrderHistories } from "./testing.js";
import { foldEventLog } from "./verification.js";

// Every kind of partial loss of a customer_orders generation is found, and within the documented bound: the O(1)
// check within one check interval, anything else within one rolling-audit pass plus one interval (ADR 0007).

let env: TestEnvironment;
let pool: pg.Pool;
let redis: Redis;
let store: PostgresEventStore;
let events: readonly RecordedEvent[];
let orders: OrderSummaryView[];
let customers: string[];

beforeAll(async () => {
  env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  ({ pool, store } = await openReadModelStore(env.databaseUrl));
  await appendHistories(store, generateOrderHistories(3000, 11));
  events = await new PostgresEventLog(pool).readAll(0, 10_000);
  orders = [...(await foldEventLog(store, events.length)).values()];
  customers = [...new Set(orders.map((o) => o.customerId))].sort();
  redis = new Redis(env.redisUrl);
}, 60_000);

afterAll(() => closeAll({ projectors: [], store, redis, pool, env }));

let generations = 0;

/** A generation of its own namespace (under this run's), written by the live apply path; nothing checks it yet. */
async function generation(upTo = events.length) {
  const namespace = env.ownRedisNamespace(`${env.namespace}:n${generations++}`);
  const projection = new CustomerOrdersProjection(redis, { namespace, checkIntervalMs: 3_600_000, auditPassMs: 0 });
  expect(await projection.checkpoint()).toBe(0);
  await projection.apply(events.slice(0, upTo), 0);
  const g = customerOrdersKeys(namespace).generation(projection.generation as string);
  return { namespace, g, k: generationKeys(g), projection };
}

const someOrder = () => orders[7] as OrderSummaryView;

/** Each kind of loss; `constant`: found by the O(1) check (else by the audit, key by key). */
const kinds: {
  readonly what: string;
  readonly constant: boolean;
  readonly lose: (k: ReturnType<typeof generationKeys>) => Promise<unknown>;
}[] = [
  {
    what: "a whole customer's keys (its list and its orders' hashes)",
    constant: false,
    lose: (k) => {
      const cid = someOrder().customerId;
      const names = [k.customer(cid), ...orders.filter((o) => o.customerId === cid).map((o) => k.order(o.orderId))];
      return redis.unlink(...names);
    },
  },
  { what: "one customer's list", constant: false, lose: (k) => redis.unlink(k.customer(someOrder().customerId)) },
  {
    what: "one list entry",
    constant: false,
    lose: (k) => redis.zrem(k.customer(someOrder().customerId), listMember(someOrder())),
  },
  { what: "one order hash", constant: false, lose: (k) => redis.unlink(k.order(someOrder().orderId)) },
  { what: "the counts", constant: true, lose: (k) => redis.unlink(k.counts) },
  { what: "the customer index", constant: true, lose: (k) => redis.unlink(k.customers) },
  { what: "one customer index entry", constant: true, lose: (k) => redis.srem(k.customers, customers[3] as string) },
  { what: "the per-customer entry counts", constant: true, lose: (k) => redis.unlink(k.listed) },
  { what: "one per-customer entry count", constant: true, lose: (k) => redis.hdel(k.listed, customers[5] as string) },
  { what: "the mark", constant: true, lose: (k) => redis.unlink(k.mark) },
];

describe("customer_orders partial-loss detection", () => {
  it("a whole generation passes every check, and the audit's counts are exact", async () => {
    const { namespace, g } = await generation();
    expect(await checkGeneration(redis, g)).toBeUndefined();
    const audit = await auditCustomerOrders(redis, namespace);
    expect(audit).toMatchObject({ problem: undefined, exact: true, missingLists: 0, missingEntries: 0 });
    expect(audit.counts).toEqual({ orders: orders.length, customers: customers.length });
    expect(audit.found).toEqual({ orders: orders.length, customers: customers.length });
  });

  for (const kind of kinds) {
    it(`finds ${kind.what} gone: the audit always, the O(1) check ${kind.constant ? "too" : "not"}`, async () => {
      const { namespace, g, k } = await generation();
      expect(await kind.lose(k)).toBeTruthy();
      expect((await auditCustomerOrders(redis, namespace)).problem).toBeDefined();
      if (kind.constant) expect(await checkGeneration(redis, g)).toBeDefined();
      else expect(await checkGeneration(redis, g)).toBeUndefined();
    });

    it(`the projector notices ${kind.what} gone within its bound, and starts a fresh generation`, async () => {
      const { namespace, k } = await generation();
      const intervalMs = 100;
      const passMs = 1000;
      const losses: string[] = [];
      const projector = new CustomerOrdersProjection(redis, {
        namespace,
        checkIntervalMs: intervalMs,
        auditPassMs: passMs,
        onDataLost: (reason, lostKind) => losses.push(`${lostKind}: ${reason}`),
      });
      // Start: the whole pass finds nothing.
      expect(await projector.checkpoint()).toBe(events.length);
      await kind.lose(k);
      const lostAt = Date.now();
      // What the runtime does while idle: ask for the checkpoint every tick (here 20 ms).
      while ((await projector.checkpoint()) !== 0 && Date.now() - lostAt < 10_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const detectMs = Date.now() - lostAt;
      expect(losses).toHaveLength(1);
      expect(losses[0]).toMatch(/^partial: /);
      // The bound (ADR 0007): one interval for the O(1) kinds, one pass plus one interval for the others; the slack
      // is for a loaded machine.
      expect(detectMs).toBeLessThan((kind.constant ? intervalMs : passMs + intervalMs) + 1500);
    });
  }

  it("finds an order hash that vanished and was written again by a later event (the writer flags it)", async () => {
    // An order with a later event: apply up to it, lose the order's hash, apply the rest. The live writer's cache
    // rewrites the hash, so the key exists again, but the loss happened: the write script says so.
    const later = events.findIndex((e, i) => i > 0 && e.type !== "OrderPlaced");
    const target = events[later] as RecordedEvent;
    const { namespace, g, k, projection } = await generation(later);
    const orderId = orderIdOf(target);
    expect(await redis.unlink(k.order(orderId))).toBe(1);
    await projection.apply(events.slice(later), later);
    expect(await redis.exists(k.order(orderId))).toBe(1);
    expect(await checkGeneration(redis, g)).toMatch(new RegExp(`order ${orderId}'s hash`));
    expect((await auditCustomerOrders(redis, namespace)).problem).toBeDefined();
  });

  it("an event for an order whose hash vanished (and no cache holds it) starts over instead of stopping as poison", async () => {
    const later = events.findIndex((e, i) => i > 0 && e.type !== "OrderPlaced");
    const target = events[later] as RecordedEvent;
    const { namespace, k } = await generation(later);
    expect(await redis.unlink(k.order(orderIdOf(target)))).toBe(1);
    const losses: string[] = [];
    // A projector just started: nothing cached, the audit at start not run yet (a loss right after it).
    const projector = new CustomerOrdersProjection(redis, {
      namespace,
      checkIntervalMs: 3_600_000,
      auditPassMs: 0,
      cacheSize: 0,
      onDataLost: (reason, kind) => losses.push(`${kind}: ${reason}`),
    });
    expect(await projector.checkpoint()).toBe(later);
    const error = await projector.apply(events.slice(later), later).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointMovedError);
    expect((error as CheckpointMovedError).actual).toBe(0);
    expect(losses).toEqual([expect.stringMatching(new RegExp(`^partial: order ${orderIdOf(target)}'s hash vanished`))]);
  });

  it("an event for an order the log never placed stays a poison event (the generation is whole)", async () => {
    const { namespace } = await generation();
    const projector = new CustomerOrdersProjection(redis, { namespace, auditPassMs: 0, cacheSize: 0 });
    expect(await projector.checkpoint()).toBe(events.length);
    const stray = {
      ...(events.find((e) => e.type === "PaymentReceived") as RecordedEvent),
      streamId: "order-00000000-0000-4000-8000-000000000000",
      position: events.length + 1,
    };
    await expect(projector.apply([stray], events.length)).rejects.toBeInstanceOf(ProjectionHandlerError);
  });

  it("after a partial loss, the damaged generation is dropped whole: the hash whose list entry vanished too", async () => {
    const { namespace, g, k } = await generation();
    const orphan = someOrder();
    await redis.zrem(k.customer(orphan.customerId), listMember(orphan));
    const projector = new CustomerOrdersProjection(redis, { namespace, checkIntervalMs: 0, auditPassMs: 1000 });
    // The whole audit at start finds the missing entry: a fresh generation, replayed from the log.
    expect(await projector.checkpoint()).toBe(0);
    expect(projector.generation).not.toBe(g.slice(g.lastIndexOf(":g") + 2));
    await projector.apply(events, 0);
    await eventually(
      async () => (await redis.exists(k.order(orphan.orderId))) === 0,
      "the orphaned hash swept",
      10_000,
    );
    for (const name of [k.counts, k.customers, k.listed, k.checkpoint, k.mark, k.customer(orphan.customerId)]) {
      expect(await redis.exists(name), name).toBe(0);
    }
  });

  it("a rolling audit visits every customer within passMs / intervalMs runs, and finds a loss within one pass", async () => {
    const { g, k } = await generation();
    const { customers: created } = await checkGenerationCounts(redis, g);
    expect(created).toBe(customers.length);
    // Small script chunks so that a pass really is spread over the runs.
    const audit = new RollingAudit(1000, 100, 5);
    let runs = 0;
    while (audit.passes === 0 && runs < 100) {
      expect(await audit.run(redis, g, created)).toBeUndefined();
      runs++;
    }
    expect(runs).toBeGreaterThan(1);
    expect(runs).toBeLessThanOrEqual(10);
    await redis.zrem(k.customer(someOrder().customerId), listMember(someOrder()));
    let found: string | undefined;
    for (runs = 0; found === undefined && runs < 100; runs++) found = await audit.run(redis, g, created);
    expect(found).toMatch(/1 list entries/);
    // Found within the pass that was under way when the entry vanished, or the next one.
    expect(runs).toBeLessThanOrEqual(20);
  });
});
