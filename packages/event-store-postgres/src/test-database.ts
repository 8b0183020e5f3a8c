// The set-up the integration tests share (not built into dist: see tsconfig.build.json).
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { type CreatePoolOptions, createPool } from "./database.js";
import { migrateEventStore } from "./migrations.js";

/**
 * What the test file opens before its tests and closes after them (vitest runs afterAll hooks in reverse, so what is
 * opened later closes first). The function returned reads it, inside a test or hook.
 */
function openedForFile<T>(what: string, open: () => Promise<T>, close: (opened: T) => Promise<unknown>): () => T {
  let opened: T | undefined;
  beforeAll(async () => {
    opened = await open();
  });
  afterAll(async () => {
    if (opened !== undefined) await close(opened);
  });
  return () => {
    if (opened === undefined) throw new Error(`the test file's ${what} is opened in beforeAll`);
    return opened;
  };
}

/** The test file's own test environment (a database of its own on the shared servers), cleaned up after its tests. */
export function testEnvironmentForFile(): { readonly env: TestEnvironment } {
  const env = openedForFile(
    "test environment",
    () => createTestEnvironment(),
    (opened) => opened.cleanup(),
  );
  return {
    get env() {
      return env();
    },
  };
}

/**
 * A database of the test file's own with the store's tables: opened and migrated before the file's tests, closed and
 * dropped after them. Read `pool` inside a test or hook (it is set in beforeAll).
 */
export function migratedDatabaseForFile(poolOptions?: CreatePoolOptions): {
  readonly pool: pg.Pool;
  readonly env: TestEnvironment;
} {
  const file = testEnvironmentForFile();
  const pool = openedForFile(
    "database",
    async () => {
      const opened = createPool(file.env.databaseUrl, poolOptions);
      try {
        await migrateEventStore(opened);
      } catch (error) {
        await opened.end();
        throw error;
      }
      return opened;
    },
    (opened) => opened.end(),
  );
  return {
    get pool() {
      return pool();
    },
    get env() {
      return file.env;
    },
  };
}
