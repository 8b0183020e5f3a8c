// The set-up the PostgresEventStore int tests share (not built into dist: see tsconfig.build.json).
import type { AppendRequest, CommandOutcome } from "@orderly/eventsourcing";
import { testAppendRequest, testUuid } from "@orderly/eventsourcing/testing";
import pg from "pg";
import { afterAll, beforeEach, expect } from "vitest";
import { createPool } from "./database.js";
import { PostgresEventStore } from "./postgres-event-store.js";
import { migratedDatabaseForFile } from "./test-database.js";

/**
 * A migrated database of the test file's own, emptied before each test, with what the tests open on it: more pools
 * (ended after the file's tests), plain clients, a connection killer, and the check that acknowledged appends are
 * stored. Read `pool` and `env` inside a test or hook.
 */
export function storeTestDatabase() {
  const database = migratedDatabaseForFile();
  const extraPools: pg.Pool[] = [];
  afterAll(async () => {
    await Promise.allSettled(extraPools.map(endPool));
  });
  beforeEach(async () => {
    await database.pool.query("truncate events, processed_commands; update global_position set last = 0");
  });

  function newPool(options: pg.PoolConfig = {}, url = database.env.databaseUrl): pg.Pool {
    const created = createPool(url, options);
    extraPools.push(created);
    return created;
  }

  async function rawClient(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: database.env.databaseUrl });
    await client.connect();
    return client;
  }

  /**
   * Terminates every active connection of `applicationName`, again and again (a pause of `pauseMs` between rounds),
   * until stopped.
   */
  async function startKilling(applicationName: string, pauseMs: number): Promise<{ stop(): Promise<void> }> {
    const killer = await rawClient();
    let killing = true;
    const killerLoop = (async () => {
      while (killing) {
        await killer.query(
          "select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and state = 'active'",
          [applicationName],
        );
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    })();
    return {
      async stop() {
        killing = false;
        await killerLoop;
        await killer.end();
      },
    };
  }

  async function expectAcknowledgedStored(
    acknowledged: readonly (readonly [AppendRequest | undefined, CommandOutcome])[],
  ) {
    const store = new PostgresEventStore(database.pool);
    const all = await store.readAll(0, 100_000);
    const byPosition = new Map(all.map((e) => [e.position, e]));
    for (const [request, outcome] of acknowledged) {
      const event = byPosition.get(outcome.position);
      expect(event?.metadata.eventId).toBe(request?.events[0]?.metadata.eventId);
      expect(await store.findCommand(request?.idempotency?.key ?? "")).toMatchObject({ position: outcome.position });
    }
    expect(all.map((e) => e.position)).toEqual(range(1, all.length));
  }

  return {
    get pool() {
      return database.pool;
    },
    get env() {
      return database.env;
    },
    newPool,
    rawClient,
    startKilling,
    expectAcknowledgedStored,
  };
}

export async function endPool(p: pg.Pool): Promise<void> {
  if (!p.ended && !p.ending) await p.end();
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

export async function appendKeyed(store: PostgresEventStore, key: string): Promise<CommandOutcome> {
  return store.append(testAppendRequest(`order-${testUuid()}`, { key }));
}
