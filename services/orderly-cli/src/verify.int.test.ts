import { ordersBus } from "@orderly/event-bus";
import { createPool, migrateEventStore, PostgresEventStore, PostgresRelayStore } from "@orderly/event-store-postgres";
import {
  customerOrdersKeys,
  generationKeys,
  migrateReadModels,
  ORDER_SUMMARIES,
  OrderSummariesProjection,
} from "@orderly/order-read-models";
import { appendHistories, dropCustomerOrders, generateOrderHistories } from "@orderly/order-read-models/testing";
import { OutboxRelay } from "@orderly/outbox-relay";
import {
  createTestEnvironment,
  eventually,
  type RedisServer,
  startRedisServer,
  type TestEnvironment,
} from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_FINDING, EXIT_OK } from "./command.js";
import type { ConsistencyReport } from "./consistency.js";
import type { ReadModelComparison } from "./read-model-comparison.js";
import type { StreamComparison } from "./stream-comparison.js";
import { orderlyIn } from "./testing-cli.js";

let env: TestEnvironment;
let pool: pg.Pool;
let relay: OutboxRelay | undefined;
let head = 0;

const silent = { debug() {}, info() {}, warn() {}, error() {} };

beforeAll(async () => {
  env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  pool = createPool(env.databaseUrl, { max: 4 });
  await migrateEventStore(pool);
  await migrateReadModels(pool);
  head = await appendHistories(new PostgresEventStore(pool), generateOrderHistories(600, 7));
  relay = new OutboxRelay({
    store: new PostgresRelayStore(env.databaseUrl),
    natsUrl: env.natsUrl,
    bus: ordersBus(env.namespace),
    logger: silent,
    pollIntervalMs: 100,
  });
  relay.start();
  await eventually(() => relay?.ackedPosition === head, "the relay published every event");
  // The live projector makes its checkpoint row at start; the rebuild's swap moves it.
  await new OrderSummariesProjection(pool).checkpoint();
  for (const model of ["order_summaries", "customer_orders"]) {
    expect((await orderlyIn(env.env, "rebuild", model, "--json")).code).toBe(EXIT_OK);
  }
});

afterAll(async () => {
  await relay?.stop();
  await pool?.end();
  await env?.cleanup();
});

describe("pnpm orderly verify", () => {
  it("exits 0 when the stream and both read models equal the store", async () => {
    const result = await orderlyIn(env.env, "verify", "--json");
    const report = result.json() as ConsistencyReport;
    if (process.env.ORDERLY_TEST_VERBOSE) process.stderr.write(`verify: ${JSON.stringify(report.timings)}\n`);
    expect(report.findings).toEqual([]);
    expect(result.code).toBe(EXIT_OK);
    expect(report.events).toBe(head);
    expect((report.stream as StreamComparison).tailPosition).toBe(head);
    for (const model of report.readModels as ReadModelComparison[]) {
      expect(model).toMatchObject({ checkpoint: head, rows: model.expectedRows });
    }
    expect((await orderlyIn(env.env, "verify")).stdout).toContain("everything agrees with the event store");
  });

  it("exits 1 and names the order when a read model row differs from the fold", async () => {
    const row = await pool.query<{ order_id: string }>(
      `update ${ORDER_SUMMARIES} set paid_minor = paid_minor + 1
        where order_id = (select order_id from ${ORDER_SUMMARIES} order by order_id limit 1) returning order_id`,
    );
    try {
      const result = await orderlyIn(env.env, "verify", "--json", "--limit", "5");
      expect(result.code).toBe(EXIT_FINDING);
      const report = result.json() as ConsistencyReport;
      const summaries = report.readModels.find((m) => m.name === ORDER_SUMMARIES) as ReadModelComparison;
      expect(summaries.counts.different).toBe(1);
      expect(summaries.examples[0]?.orderId).toBe(row.rows[0]?.order_id);
      expect(report.findings).toEqual(["order_summaries: 1 different order(s)"]);
    } finally {
      await pool.query(`update ${ORDER_SUMMARIES} set paid_minor = paid_minor - 1 where order_id = $1`, [
        row.rows[0]?.order_id,
      ]);
    }
  });
});

// verify reads customer_orders through its own index: on a Redis that holds 100,000 other tenants' keys (a server of
// the test's own, so that its command statistics are ours alone) it runs no SCAN, and still finds a lost order hash
// and a damaged index.
describe("pnpm orderly verify on a Redis full of other tenants' keys", () => {
  let own: RedisServer | undefined;
  let redis: Redis | undefined;
  afterAll(async () => {
    redis?.disconnect();
    await own?.close();
  });

  it("never SCANs, exits 0 when whole and 1 when an order hash or the index lost an entry", async () => {
    own = await startRedisServer();
    redis = new Redis(own.url);
    for (let i = 0; i < 100_000; i += 1000) {
      const pairs: string[] = [];
      for (let n = i; n < i + 1000; n++) pairs.push(`someone-else:${n % 13}:${n}`, "x");
      await redis.mset(...pairs);
    }
    const ownEnv = { ...env.env, REDIS_URL: own.url };
    expect((await orderlyIn(ownEnv, "rebuild", "customer_orders", "--json")).code).toBe(EXIT_OK);
    await redis.config("RESETSTAT");
    const whole = await orderlyIn(ownEnv, "verify", "--json");
    expect((whole.json() as ConsistencyReport).findings).toEqual([]);
    expect(whole.code).toBe(EXIT_OK);

    const keys = customerOrdersKeys(env.namespace);
    const g = generationKeys(keys.generation((await redis.get(keys.current)) as string));
    const customer = (await redis.srandmember(g.customers)) as string;
    const member = (await redis.zrange(g.customer(customer), "0", "0"))[0] as string;
    await redis.unlink(g.order(member.slice(31)));
    const lostHash = await orderlyIn(ownEnv, "verify", "--json");
    expect(lostHash.code).toBe(EXIT_FINDING);
    expect((lostHash.json() as ConsistencyReport).findings).toContain("customer_orders: 1 listing order(s)");

    await redis.srem(g.customers, customer);
    const lostIndex = await orderlyIn(ownEnv, "verify", "--json");
    expect(lostIndex.code).toBe(EXIT_FINDING);
    expect((lostIndex.json() as ConsistencyReport).findings.join("\n")).toMatch(/customer index lost entries/);

    const stats = (await redis.info("commandstats")) as string;
    expect(stats).not.toMatch(/^cmdstat_scan:/m);
    expect(stats).not.toMatch(/^cmdstat_keys:/m);
    expect(stats).toMatch(/^cmdstat_sscan:/m);
  });
});
