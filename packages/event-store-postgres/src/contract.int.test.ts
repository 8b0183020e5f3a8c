import { eventStoreContract } from "@orderly/eventsourcing/testing";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { createPool } from "./database.js";
import { migrateEventStore } from "./migrations.js";
import { PostgresEventStore } from "./postgres-event-store.js";

let env: TestEnvironment;
let pool: pg.Pool;

beforeAll(async () => {
  env = await createTestEnvironment();
  pool = createPool(env.databaseUrl);
  await migrateEventStore(pool);
});

afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

// One database for the file; each test starts from an empty store.
eventStoreContract("postgres", async () => {
  await pool.query("truncate events, processed_commands; update global_position set last = 0");
  return new PostgresEventStore(pool);
});

// Small batches: the same contract holds when a burst spans several transactions.
eventStoreContract("postgres, batches of 3", async () => {
  await pool.query("truncate events, processed_commands; update global_position set last = 0");
  return new PostgresEventStore(pool, { maxBatchSize: 3 });
});
