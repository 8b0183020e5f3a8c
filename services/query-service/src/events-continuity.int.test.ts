import { createPool, migrateEventStore, PostgresEventFeed, PostgresEventStore } from "@orderly/event-store-postgres";
import type { StoredEventText } from "@orderly/eventsourcing";
import { testAppendRequest, testUuid } from "@orderly/eventsourcing/testing";
import { orderEventTypes } from "@orderly/orders-domain";
import { createTestEnvironment, dumpDatabase, replaceDatabase, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommitWatch } from "./commit-watch.js";
import type { EventLog } from "./event-log.js";
import { Events, PositionAheadOfStoreError, StoreWentBackUnderSubscriptionError } from "./events.js";

// A subscription whose store goes back under it (ADR 0010): restored from a dump taken mid-run. Either the store is
// behind the subscription (FAILED_PRECONDITION, "beyond the store's last position"), or it has been written again past
// it, so the positions exist but hold other events (FAILED_PRECONDITION, "no longer holds event"): never handed on as
// if they followed. The commit watch is driven by hand, so the test decides when the subscription reads again.

let env: TestEnvironment;
const opened: { pool: pg.Pool; store: PostgresEventStore }[] = [];
let current: PostgresEventFeed;

beforeAll(async () => {
  env = await createTestEnvironment();
});

afterAll(async () => {
  for (const { pool, store } of opened) {
    await store.close();
    await pool.end();
  }
  await env?.cleanup();
});

/** The store on the test's database, opened fresh (replaceDatabase terminates the sessions of the one before). */
async function open(): Promise<PostgresEventStore> {
  const pool = createPool(env.databaseUrl, { max: 3 });
  pool.on("error", () => {}); // idle connections killed by replaceDatabase
  await migrateEventStore(pool);
  const store = new PostgresEventStore(pool);
  opened.push({ pool, store });
  current = new PostgresEventFeed(pool);
  return store;
}

async function appendMany(store: PostgresEventStore, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await store.append(testAppendRequest(`order-${testUuid()}`));
}

/** Takes pages from the subscription until it has reached `position`. */
async function takeUntil(it: AsyncGenerator<readonly StoredEventText[]>, position: number): Promise<number[]> {
  const seen: number[] = [];
  while (seen.at(-1) !== position) {
    const next = await it.next();
    if (next.done) throw new Error("subscription ended");
    seen.push(...next.value.map((e) => Number(e.position)));
  }
  return seen;
}

describe("SubscribeEvents when the store goes back under it", () => {
  it("tells the subscriber FAILED_PRECONDITION, whether the store is behind it or was written again past it", async () => {
    let store = await open();
    await appendMany(store, 5);
    const dump = await dumpDatabase(env.databaseUrl);
    try {
      await appendMany(store, 5);
      // Reads wait while the database is being replaced (a read in that window fails UNAVAILABLE: another test).
      let restoring: Promise<void> = Promise.resolve();
      let restored = () => {};
      const log: EventLog = {
        read: async (after, limit, types) => {
          await restoring;
          return current.read(after, limit, types);
        },
      };
      // `polling` re-reads at the head every 100 ms; `notified` only when a commit beyond it is announced.
      const polling = new Events({ log, commits: new CommitWatch(), knownTypes: orderEventTypes, pollMs: 100 });
      const commits = new CommitWatch();
      const events = new Events({ log, commits, knownTypes: orderEventTypes, pollMs: 60_000 });
      const signal = new AbortController().signal;
      const behind = polling.subscribe({ fromPosition: 0, eventTypes: [] }, { signal });
      const ahead = events.subscribe({ fromPosition: 0, eventTypes: [] }, { signal });
      expect(await takeUntil(behind, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(await takeUntil(ahead, 10)).toHaveLength(10);
      // Both wait at the head (10). The store is restored to the dump: head 5.
      const behindNext = behind.next();
      const aheadNext = ahead.next();
      aheadNext.catch(() => {});
      restoring = new Promise((resolve) => {
        restored = resolve;
      });
      await replaceDatabase(env.databaseUrl, dump);
      store = await open();
      restored();
      await expect(behindNext).rejects.toBeInstanceOf(PositionAheadOfStoreError);
      // Written again past the other subscription before it looked: positions 6..12 exist, holding other events.
      await appendMany(store, 7);
      commits.advance(12);
      const error = await aheadNext.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreWentBackUnderSubscriptionError);
      expect((error as StoreWentBackUnderSubscriptionError).code).toBe("failed_precondition");
      expect(String(error)).toMatch(/no longer holds event [0-9a-f-]{36} at position 10 \(it has event [0-9a-f-]{36}/);
      expect(polling.subscribers).toEqual([]);
      expect(events.subscribers).toEqual([]);
      // A new subscription from the store's own positions is served as usual.
      const fresh = events.subscribe({ fromPosition: 10, eventTypes: [] }, { signal });
      expect(await takeUntil(fresh, 12)).toEqual([11, 12]);
      await fresh.return(undefined);
    } finally {
      await dump.remove();
    }
  });
});
