// The set-up the integration tests share (not built into dist: see tsconfig.build.json).
import {
  type CreatePoolOptions,
  createPool,
  migrateEventStore,
  PostgresEventLog,
  PostgresEventStore,
} from "@orderly/event-store-postgres";
import { createTestEnvironment, eventually, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { dropCustomerOrders } from "./customer-orders-drop.js";
import { RedisCheckpointReader, type RedisCustomerOrdersReader } from "./customer-orders-readers.js";
import { migrateReadModels } from "./migrate.js";
import type { OrderSummaryView } from "./order-summary.js";
import { PostgresCheckpointReader } from "./postgres-readers.js";

export interface ReadModelStore {
  readonly pool: pg.Pool;
  readonly store: PostgresEventStore;
  readonly eventLog: PostgresEventLog;
}

/** A pool on `databaseUrl` with the event store's and the read models' tables, and the store and event log on it. */
export async function openReadModelStore(databaseUrl: string, options?: CreatePoolOptions): Promise<ReadModelStore> {
  const pool = createPool(databaseUrl, options);
  await migrateEventStore(pool);
  await migrateReadModels(pool);
  return { pool, store: new PostgresEventStore(pool), eventLog: new PostgresEventLog(pool) };
}

/** Waits until order_summaries (in `pool`) and customer_orders (in `namespace`) reach the store's head; returns it. */
export async function bothCaughtUp(
  { pool, store }: ReadModelStore,
  redis: Redis,
  namespace: string,
  timeoutMs: number,
): Promise<number> {
  const head = await store.headPosition();
  const pgCp = new PostgresCheckpointReader(pool);
  const redisCp = new RedisCheckpointReader(redis, namespace);
  await eventually(
    async () => (await pgCp.checkpoint()) === head && (await redisCp.checkpoint()) === head,
    `both read models at ${head}`,
    timeoutMs,
  );
  return head;
}

/** Stops the projectors, then closes the store, Redis, the pool and the test environment (each where opened). */
export async function closeAll(parts: {
  projectors: readonly { stop(): Promise<void> }[];
  store: PostgresEventStore | undefined;
  redis: Redis | undefined;
  pool: pg.Pool | undefined;
  env: TestEnvironment | undefined;
}): Promise<void> {
  for (const p of parts.projectors) await p.stop();
  await parts.store?.close();
  parts.redis?.disconnect();
  await parts.pool?.end();
  await parts.env?.cleanup();
}

/** What a read-model int test file works on: filled in before its first test. */
export interface ReadModelTestbed extends ReadModelStore {
  readonly env: TestEnvironment;
  readonly redis: Redis;
  /** Projectors the tests start: stopped before everything else closes. */
  readonly projectors: { stop(): Promise<void> }[];
}

/**
 * Registers the set-up most read-model int test files share and returns its testbed: before all, a test environment
 * (its cleanup drops the namespace's customer_orders), the store's and the read models' tables (`openReadModelStore`),
 * a Redis client, then `seed`; after all, `closeAll`.
 */
export function useReadModelTestbed(seed: (bed: ReadModelTestbed) => Promise<unknown>): ReadModelTestbed {
  const bed = { projectors: [] } as unknown as { -readonly [K in keyof ReadModelTestbed]: ReadModelTestbed[K] };
  beforeAll(async () => {
    bed.env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
    Object.assign(bed, await openReadModelStore(bed.env.databaseUrl));
    bed.redis = new Redis(bed.env.redisUrl);
    await seed(bed);
  });
  afterAll(() => closeAll(bed));
  return bed;
}

/** Every order `reader` lists for `customerId`, following its pages of `limit` to the end. */
export async function listAllPages(
  reader: RedisCustomerOrdersReader,
  customerId: string,
  limit: number,
): Promise<OrderSummaryView[]> {
  const all: OrderSummaryView[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await reader.listCustomerOrders(customerId, after === undefined ? { limit } : { limit, after });
    all.push(...page.orders);
    if (!page.next) return all;
    after = page.next;
  }
}
