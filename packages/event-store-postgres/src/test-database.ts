// The set-up the integration tests share (not built into dist: see tsconfig.build.json).
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { createPool } from "./database.js";
import { migrateEventStore } from "./migrations.js";

/**
 * A database of the test file's own with the store's tables: opened and migrated before the file's tests, closed and
 * dropped after them. Read `pool` inside a test or hook (it is set in beforeAll).
 */
export function migratedDatabaseForFile(): { readonly pool: pg.Pool; readonly env: TestEnvironment } {
  const opened: { pool?: pg.Pool; env?: TestEnvironment } = {};
  beforeAll(async () => {
    opened.env = await createTestEnvironment();
    opened.pool = createPool(opened.env.databaseUrl);
    await migrateEventStore(opened.pool);
  });
  afterAll(async () => {
    await opened.pool?.end();
    await opened.env?.cleanup();
  });
  return {
    get pool() {
      if (!opened.pool) throw new Error("the test database is opened in beforeAll");
      return opened.pool;
    },
    get env() {
      if (!opened.env) throw new Error("the test database is opened in beforeAll");
      return opened.env;
    },
  };
}
