// Fixtures of the in-process service tests (*.int.test.ts; not part of the build).
import { createPool, migrateEventStore } from "@orderly/event-store-postgres";
import { createLogger, type Logger } from "@orderly/observability";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import type { QueryReaders } from "./app.js";
import { type QueryServiceConfig, readQueryServiceConfig } from "./config.js";
import type { InMemoryReadModels } from "./in-memory-read-models.js";

type Env = Record<string, string | undefined>;

export const testLogger: Logger = createLogger("test", { level: "silent" });

/** The test file's environment, and a pool on its database, which has the event store's tables. */
export async function eventStoreTestEnvironment(): Promise<{ env: TestEnvironment; pool: pg.Pool }> {
  const env = await createTestEnvironment();
  try {
    return { env, pool: await eventStorePool(env) };
  } catch (error) {
    await env.cleanup();
    throw error;
  }
}

/** A pool on the test's database, which has the event store's tables. */
export async function eventStorePool(env: TestEnvironment, options: { max?: number } = {}): Promise<pg.Pool> {
  const pool = createPool(env.databaseUrl, options);
  await migrateEventStore(pool);
  return pool;
}

/** The service's configuration in a test: `env` and `overrides`, on free ports of this machine. */
export function testServiceConfig(env: Env, overrides: Env = {}): QueryServiceConfig {
  return readQueryServiceConfig({ ...env, QUERY_PORT: "0", METRICS_PORT: "0", QUERY_HOST: "127.0.0.1", ...overrides });
}

/** Readers of the in-memory read models, whose checkpoints stay at 0. */
export function inMemoryReaders(models: InMemoryReadModels): () => QueryReaders {
  return () => ({
    summaries: models,
    customerOrders: models,
    summariesCheckpoint: { checkpoint: async () => 0 },
    customerOrdersCheckpoint: { checkpoint: async () => 0 },
  });
}
