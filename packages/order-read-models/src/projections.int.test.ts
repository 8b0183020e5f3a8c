import { randomUUID } from "node:crypto";
import type { PostgresEventLog, PostgresEventStore } from "@orderly/event-store-postgres";
import { testMetadata } from "@orderly/eventsourcing/testing";
import { Projector, rebuildProjection } from "@orderly/projector";
import { createTestEnvironment, eventually, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { dropCustomerOrders } from "./customer-orders-drop.js";
import { auditCustomerOrders } from "./customer-orders-integrity.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { listMember, packRows } from "./customer-orders-layout.js";
import { RedisCheckpointReader, RedisCustomerOrdersReader } from "./customer-orders-readers.js";
import { CustomerOrdersRebuild } from "./customer-orders-rebuild.js";
import { columnArrays, OrderSummariesProjection } from "./order-summaries.js";
import { OrderSummariesRebuild } from "./order-summaries-rebuild.js";
import { canonicalSummary, type OrderSummaryView } from "./order-summary.js";
import { rowToSummary } from "./order-summary-rows.js";
import { PostgresCheckpointReader, PostgresOrderSummaryReader } from "./postgres-readers.js";
import { bothCaughtUp, closeAll, listAllPages, openReadModelStore } from "./test-store.js";
import { appendHistories, generateOrderHistories, loseCustomerOrderKeys, type OrderHistory } from "./testing.js";
import { foldEventLog } from "./verification.js";

let env: TestEnvironment;
let pool: pg.Pool;
let redis: Redis;
let store: PostgresEventStore;
let eventLog: PostgresEventLog;
const histories: OrderHistory[] = [];
const projectors: Projector[] = [];
const losses: ("total" | "partial")[] = [];

function startProjectors() {
  const postgres = new Projector({
    projection: new OrderSummariesProjection(pool),
    eventLog,
    tickMs: 100,
    poisonRetryMs: 200,
    retryBaseMs: 5,
    maxAttempts: 3,
  });
  const redisProjector = new Projector({
    // Checks for partial loss often here, so that a test sees it within a second or two.
    projection: new CustomerOrdersProjection(redis, {
      namespace: env.namespace,
      pool,
      checkIntervalMs: 200,
      auditPassMs: 1000,
      onDataLost: (_reason, kind) => losses.push(kind),
    }),
    eventLog,
    tickMs: 100,
    poisonRetryMs: 200,
    retryBaseMs: 5,
    maxAttempts: 3,
  });
  projectors.push(postgres, redisProjector);
  return { postgres, redisProjector };
}

function caughtUp(): Promise<number> {
  return bothCaughtUp({ pool, store, eventLog }, redis, env.namespace, 60_000);
}

function listAll(customerId: string, limit = 3): Promise<OrderSummaryView[]> {
  return listAllPages(new RedisCustomerOrdersReader(redis, env.namespace), customerId, limit);
}

/** Every order's summary in both read models equals a fresh fold of the event store; each list holds each once. */
async function expectModelsEqualFold(): Promise<void> {
  const head = await store.headPosition();
  const expected = await foldEventLog(store, head);
  expect([...expected.values()].some((s) => s.placedBy.startsWith("svc-"))).toBe(true); // the histories carry an actor
  const rows = await pool.query("select order_id from order_summaries");
  expect(rows.rowCount).toBe(expected.size);
  const reader = new PostgresOrderSummaryReader(pool);
  for (const summary of expected.values()) {
    const actual = await reader.getOrderSummary(summary.orderId);
    expect(actual && canonicalSummary(actual)).toBe(canonicalSummary(summary));
    expect(actual?.placedBy).toBe(summary.placedBy);
  }
  const byCustomer = new Map<string, OrderSummaryView[]>();
  for (const s of expected.values()) byCustomer.set(s.customerId, [...(byCustomer.get(s.customerId) ?? []), s]);
  for (const [customerId, orders] of byCustomer) {
    const listed = await listAll(customerId, 7);
    const want = [...orders].sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.placedPosition - a.placedPosition,
    );
    expect(listed.map(canonicalSummary)).toEqual(want.map(canonicalSummary));
    // Who placed each order (issue 15), in customer_orders too since CUSTOMER_ORDERS_VERSION 3.
    expect(listed.map((s) => s.placedBy)).toEqual(want.map((s) => s.placedBy));
  }
}

/** The `i`-th summary of a test of awkward strings: `text` in every string column, extreme numbers and times. */
function trickySummary(
  text: string,
  i: number,
  fields: Pick<OrderSummaryView, "status" | "paymentStatus" | "paidMinor" | "itemCount">,
): OrderSummaryView {
  return {
    orderId: randomUUID(),
    customerId: text,
    currency: text,
    totalMinor: i === 0 ? Number.MAX_SAFE_INTEGER : -i,
    version: i + 1,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)),
    updatedAt: new Date(-1000 * i - 7),
    lastPosition: 10 + i,
    placedPosition: 2 ** 40 + i,
    placedBy: text,
    ...fields,
  };
}

beforeAll(async () => {
  env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  ({ pool, store, eventLog } = await openReadModelStore(env.databaseUrl));
  redis = new Redis(env.redisUrl);
  histories.push(...generateOrderHistories(3000, 7));
  await appendHistories(store, histories);
});

afterAll(() => closeAll({ projectors, store, redis, pool, env }));

describe("order projections (event store only)", () => {
  it("project every event into both read models, equal to a fresh fold", async () => {
    const { postgres, redisProjector } = startProjectors();
    await postgres.start();
    await redisProjector.start();
    await caughtUp();
    await expectModelsEqualFold();
  });

  // 20-25 s alone; longer beside the package's other rebuild suite on a shared machine (the timeout is not tested).
  it("rebuild both with no downtime while events are appended and read", async () => {
    const more = generateOrderHistories(1500, 8);
    let reads = 0;
    let failures = 0;
    let empty = 0;
    let stop = false;
    const summaryReader = new PostgresOrderSummaryReader(pool);
    const listReader = new RedisCustomerOrdersReader(redis, env.namespace);
    const known = histories[0] as OrderHistory;
    const reading = (async () => {
      while (!stop) {
        try {
          const [summary, list] = await Promise.all([
            summaryReader.getOrderSummary(known.orderId),
            listReader.listCustomerOrders(known.customerId, { limit: 100 }),
          ]);
          reads++;
          if (!summary || !list.orders.some((o) => o.orderId === known.orderId)) empty++;
        } catch {
          failures++;
        }
      }
    })();
    const appending = appendHistories(store, more, 32);
    const [pgResult, redisResult] = await Promise.all([
      rebuildProjection(new OrderSummariesRebuild(pool, eventLog), eventLog, { batchSize: 1000 }),
      rebuildProjection(new CustomerOrdersRebuild(redis, env.namespace, eventLog), eventLog, { batchSize: 1000 }),
    ]);
    await appending;
    await caughtUp();
    stop = true;
    await reading;
    expect(pgResult.verification?.rows).toBe(pgResult.verification?.expectedRows);
    expect(redisResult.verification?.checksum).toBe(redisResult.verification?.expectedChecksum);
    expect(failures).toBe(0);
    expect(empty).toBe(0);
    expect(reads).toBeGreaterThan(0);
    const tables = await pool.query("select tablename from pg_tables where tablename like 'order_summaries%'");
    expect(tables.rows.map((r) => r.tablename)).toEqual(["order_summaries"]);
    const persistence = await pool.query("select relpersistence from pg_class where relname = 'order_summaries'");
    expect(persistence.rows[0]?.relpersistence).toBe("p");
    await expectModelsEqualFold();
  }, 180_000);

  it("notices Redis lost its data and rebuilds from the event store", async () => {
    const before = await new RedisCheckpointReader(redis, env.namespace).checkpoint();
    expect(before).toBeGreaterThan(0);
    const orders = [...(await foldEventLog(store, before)).values()];
    // All of it at once, by name (one UNLINK): a test never deletes by SCAN over a keyspace other tenants share.
    expect(await loseCustomerOrderKeys(redis, env.namespace, orders, { all: true })).toBeGreaterThan(orders.length);
    await eventually(() => losses.includes("total"), "the total loss noticed", 30_000);
    await caughtUp();
    await expectModelsEqualFold();
    expect((await auditCustomerOrders(redis, env.namespace)).problem).toBeUndefined();
  });

  for (const [name, lose] of [
    [
      "a quarter of the customers' lists and hashes",
      (orders: readonly OrderSummaryView[]) => {
        const customers = [...new Set(orders.map((o) => o.customerId))].sort();
        return { customers: customers.filter((_, i) => i % 4 === 0) };
      },
    ],
    ["a single order's hash", (orders: readonly OrderSummaryView[]) => ({ orders: [orders[17]?.orderId as string] })],
    [
      "a single customer's list",
      (orders: readonly OrderSummaryView[]) => ({ lists: [orders[3]?.customerId as string] }),
    ],
    [
      "a single list entry, its order's hash still there",
      (orders: readonly OrderSummaryView[]) => ({ listEntries: [orders[11]?.orderId as string] }),
    ],
  ] as const) {
    it(`notices Redis lost part of its keys (${name}), the checkpoint still there, and rebuilds`, async () => {
      const head = await caughtUp();
      const keys = customerOrdersKeys(env.namespace);
      const generation = await redis.get(keys.current);
      const orders = [...(await foldEventLog(store, head)).values()];
      const partialBefore = losses.filter((k) => k === "partial").length;
      // The checkpoint stays: only the generation's index and counts can tell.
      expect(await loseCustomerOrderKeys(redis, env.namespace, orders, lose(orders))).toBeGreaterThan(0);
      await eventually(
        async () => (await redis.get(keys.current)) !== generation,
        "a fresh generation after the partial loss",
        30_000,
      );
      expect(losses.filter((k) => k === "partial").length).toBe(partialBefore + 1);
      await caughtUp();
      await expectModelsEqualFold();
      const audit = await auditCustomerOrders(redis, env.namespace);
      expect(audit.problem).toBeUndefined();
      expect(audit.found.orders).toBe(orders.length);
    });
  }

  it("heals when Postgres loses its last commits (asynchronous commit, then a crash)", async () => {
    const pgCp = new PostgresCheckpointReader(pool);
    const head = await caughtUp();
    // What a crash leaves after losing the commits above `back`: rows and checkpoint of an earlier batch, together.
    const back = head - 700;
    const earlier = await foldEventLog(store, back);
    const client = await pool.connect();
    try {
      await client.query("begin");
      await client.query("truncate order_summaries");
      await client.query(
        `insert into order_summaries select * from json_populate_recordset(null::order_summaries, $1::json)`,
        [
          JSON.stringify(
            [...earlier.values()].map((s) => ({
              order_id: s.orderId,
              customer_id: s.customerId,
              status: s.status,
              payment_status: s.paymentStatus,
              currency: s.currency,
              total_minor: s.totalMinor,
              paid_minor: s.paidMinor,
              item_count: s.itemCount,
              version: s.version,
              created_at: s.createdAt,
              updated_at: s.updatedAt,
              last_position: s.lastPosition,
              placed_position: s.placedPosition,
              placed_by: s.placedBy,
            })),
          ),
        ],
      );
      await client.query("update projection_checkpoints set position = $1 where name = 'order_summaries'", [back]);
      await client.query("commit");
    } finally {
      client.release();
    }
    expect(await pgCp.checkpoint()).toBe(back);
    // Live events keep coming; the projector finds its checkpoint behind and replays from the event store.
    await appendHistories(store, generateOrderHistories(300, 10));
    await caughtUp();
    await expectModelsEqualFold();
  });

  it("commits each batch asynchronously, in its own transaction only", async () => {
    // A pool stand-in that runs the apply statement inside an explicit transaction to look at the setting there.
    const seen: string[] = [];
    const spy = {
      query: async (config: string | pg.QueryConfig, values?: unknown[]) => {
        if (typeof config === "string" || !config.name?.startsWith("os_apply_")) return pool.query(config, values);
        const client = await pool.connect();
        try {
          await client.query("begin");
          const result = await client.query(config);
          seen.push((await client.query("show synchronous_commit")).rows[0].synchronous_commit);
          await client.query("commit");
          seen.push((await client.query("show synchronous_commit")).rows[0].synchronous_commit);
          return result;
        } finally {
          client.release();
        }
      },
    } as unknown as pg.Pool;
    await pool.query("create table if not exists async_probe (like order_summaries including all)");
    const projection = new OrderSummariesProjection(spy, { table: "async_probe", announce: false });
    expect(await projection.checkpoint()).toBe(0);
    await projection.apply(await eventLog.readAll(0, 10), 0);
    expect(seen).toEqual(["off", "on"]);
    expect(await projection.checkpoint()).toBe(10);
  });

  it("passes every column through its array literal unchanged, whatever the strings hold", async () => {
    const tricky = ['a"b', "back\\slash", "comma,brace{}", "NULL", "", " spaced ", "ünï😀", '\\"', "tab\tnew\nline"];
    const rows = tricky.map((text, i) =>
      trickySummary(text, i, {
        status: "placed",
        paymentStatus: "pending",
        paidMinor: 0,
        itemCount: 2_000_000_000 + i,
      }),
    );
    const arrays = columnArrays(rows);
    const result = await pool.query(
      `select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[],
         $8::int4[], $9::int8[], $10::timestamptz[], $11::timestamptz[], $12::int8[], $13::int8[], $14::text[])
         as u(order_id, customer_id, status, payment_status, currency, total_minor, paid_minor, item_count, version,
              created_at, updated_at, last_position, placed_position, placed_by)`,
      arrays,
    );
    expect(result.rows.map(rowToSummary)).toEqual(rows);
    await expect(
      pool.query("select $1::int8[]", [columnArrays([{ ...(rows[0] as OrderSummaryView), totalMinor: 1.5 }])[5]]),
    ).rejects.toThrow();
  });

  it("hands the apply script every hash field unchanged, whatever the strings hold", async () => {
    const tricky = [
      'a"b',
      "back\\slash",
      "",
      " spaced ",
      "ünï😀",
      "nul\u0000byte",
      "line\u2028sep",
      "lone\ud800",
      "x\udc00y",
    ];
    const rows = tricky.map((text, i) =>
      trickySummary(text, i, { status: "paid", paymentStatus: "refunded", paidMinor: 2 ** 53 - 2, itemCount: i }),
    );
    const decoded = (await redis.eval("return cjson.decode(ARGV[1])", 0, packRows(rows))) as string[];
    const expected = rows.flatMap((r) => [
      r.orderId,
      listMember(r),
      ...[r.customerId, r.status, r.paymentStatus, r.currency].map((v) => Buffer.from(v).toString()),
      ...[r.totalMinor, r.paidMinor, r.itemCount, r.version, r.createdAt.getTime(), r.updatedAt.getTime()].map(String),
      String(r.lastPosition),
      String(r.placedPosition),
      Buffer.from(r.placedBy).toString(),
    ]);
    expect(decoded).toEqual(expected);
    // What ioredis writes for a lone surrogate (U+FFFD), and no number passed through a double.
    expect(decoded).toContain("lone\ufffd");
    expect(decoded).toContain(String(Number.MAX_SAFE_INTEGER));
  });

  it("stops at a poison event, reports it, and resumes once the event is repaired", async () => {
    const [postgres] = projectors;
    // A payment for an order that was never placed: no handler can apply it.
    const orderId = randomUUID();
    const commandId = randomUUID();
    const metadata = testMetadata(commandId);
    const outcome = await store.append({
      streamId: `order-${orderId}`,
      expectedVersion: "no_stream",
      events: [{ event: { type: "PaymentReceived", data: { amountMinor: 5, paymentReference: "x" } }, metadata }],
    });
    const after = generateOrderHistories(40, 9);
    await appendHistories(store, after);
    await eventually(() => postgres?.status().poisoned?.position === outcome.position, "poisoned", 30_000);
    expect(postgres?.ready()).toBe(false);
    expect(postgres?.status().checkpoint).toBe(outcome.position - 1);
    // The operator repairs the event in the store; the projection picks it up on its next slow retry.
    await pool.query("update events set event_type = 'OrderPlaced', data = $2 where position = $1", [
      outcome.position,
      JSON.stringify({ orderId, customerId: "repaired", currency: "EUR", items: [], totalMinor: 0 }),
    ]);
    await caughtUp();
    expect(postgres?.ready()).toBe(true);
    expect(postgres?.status().poisoned).toBeUndefined();
    await expectModelsEqualFold();
  });
});
