// The set-up the integration tests share (not built into dist: see tsconfig.build.json).
import {
  type CreatePoolOptions,
  createPool,
  migrateEventStore,
  PostgresEventLog,
  PostgresEventStore,
} from "@orderly/event-store-postgres";
import { eventually, type TestEnvironment } from "@orderly/testing";
import type { Redis } from "ioredis";
import type pg from "pg";
import { RedisCheckpointReader } from "./customer-orders-readers.js";
import { migrateReadModels } from "./migrate.js";
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
