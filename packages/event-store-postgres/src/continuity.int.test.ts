import { testAppendRequest, testUuid } from "@orderly/eventsourcing/testing";
import { createTestEnvironment, dumpDatabase, replaceDatabase, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeDivergence, StoreContinuity } from "./continuity.js";
import { createPool } from "./database.js";
import { migrateEventStore } from "./migrations.js";
import { PostgresEventStore } from "./postgres-event-store.js";
import { readRetiredRanges } from "./store-status.js";

let env: TestEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment();
});

afterAll(async () => {
  await env?.cleanup();
});

/** A store on the test's database, opened fresh (replaceDatabase terminates the sessions of the one before). */
async function open(): Promise<{
  pool: pg.Pool;
  store: PostgresEventStore;
  continuity: StoreContinuity;
  close(): Promise<void>;
}> {
  const pool = createPool(env.databaseUrl, { max: 2 });
  await migrateEventStore(pool);
  const store = new PostgresEventStore(pool);
  return {
    pool,
    store,
    continuity: new StoreContinuity(pool),
    async close() {
      await store.close();
      await pool.end();
    },
  };
}

async function appendMany(store: PostgresEventStore, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await store.append(testAppendRequest(`order-${testUuid()}`));
}

async function markAt(store: PostgresEventStore, position: number): Promise<{ position: number; eventId: string }> {
  const [event] = await store.readAll(position - 1, 1);
  if (event?.position !== position) throw new Error(`no event at ${position}`);
  return { position, eventId: event.metadata.eventId };
}

describe("StoreContinuity", () => {
  it("tells a store that went back (restored from a dump taken mid-run, then written again) from one that did not", async () => {
    const first = await open();
    const storeId = await first.continuity.storeId();
    expect(storeId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await first.continuity.check({ position: 0, eventId: undefined })).toEqual({ kind: "ok", head: 0, storeId });

    await appendMany(first.store, 5);
    const dump = await dumpDatabase(env.databaseUrl);
    await appendMany(first.store, 5);
    const mark5 = await markAt(first.store, 5);
    const mark10 = await markAt(first.store, 10);
    expect(await first.continuity.check(mark10)).toEqual({ kind: "ok", head: 10, storeId });
    expect(await first.continuity.check(mark5)).toEqual({ kind: "ok", head: 10, storeId });
    expect(await first.continuity.head()).toBe(10);
    // A checkpoint written before marks existed: only its position can be checked.
    expect(await first.continuity.check({ position: 10, eventId: undefined })).toEqual({
      kind: "ok",
      head: 10,
      storeId,
    });
    await first.close();

    try {
      await replaceDatabase(env.databaseUrl, dump);
    } finally {
      await dump.remove();
    }
    const restored = await open();
    try {
      // A restore keeps the store's identity: it is the same store, gone back.
      expect(await restored.continuity.storeId()).toBe(storeId);
      expect(await restored.continuity.check(mark5)).toEqual({ kind: "ok", head: 5, storeId });
      expect(await restored.continuity.check(mark10)).toEqual({
        kind: "behind",
        head: 5,
        storeId,
        position: 10,
        eventId: mark10.eventId,
      });
      expect(await restored.continuity.check({ position: 7, eventId: undefined })).toEqual({
        kind: "behind",
        head: 5,
        storeId,
        position: 7,
      });

      // New commands take the lost positions for other events: now the mark names an event the store does not hold.
      await appendMany(restored.store, 7);
      const other = await markAt(restored.store, 10);
      const result = await restored.continuity.check(mark10);
      expect(result).toEqual({
        kind: "mismatch",
        head: 12,
        storeId,
        position: 10,
        expectedEventId: mark10.eventId,
        storeEventId: other.eventId,
      });
      if (result.kind === "ok") throw new Error("unreachable");
      const line = describeDivergence("the relay's checkpoint", result);
      expect(line).toContain(mark10.eventId);
      expect(line).toContain(other.eventId);
      expect(line).toContain("position 10");
      expect(line).toContain("pnpm orderly recover");
    } finally {
      await restored.close();
    }
  });

  it("a fresh database under the same name is another store, behind every old mark", async () => {
    const before = await open();
    const oldId = await before.continuity.storeId();
    await appendMany(before.store, 3);
    const mark = await markAt(before.store, 3);
    await before.close();

    await replaceDatabase(env.databaseUrl);
    const fresh = await open();
    try {
      const newId = await fresh.continuity.storeId();
      expect(newId).not.toBe(oldId);
      expect(await fresh.continuity.check(mark)).toEqual({
        kind: "behind",
        head: 0,
        storeId: newId,
        position: 3,
        eventId: mark.eventId,
      });
      expect(await fresh.continuity.check({ position: 0, eventId: undefined })).toMatchObject({ kind: "ok" });
      expect(fresh.continuity.knownStoreId).toBe(newId);
    } finally {
      await fresh.close();
    }
  });

  it("a retired position is a valid mark only without an event: an event the stream still holds there is lost", async () => {
    await replaceDatabase(env.databaseUrl);
    const { pool, store, continuity, close } = await open();
    try {
      await appendMany(store, 4);
      const kept = await markAt(store, 4);
      // What a recovery does after the store went back to 4 while downstream had seen up to 9: retire 5..9.
      await pool.query(
        "insert into retired_positions (first, last, reason) values (5, 9, 'test'); update global_position set last = 9",
      );
      const lost = { position: 7, eventId: testUuid() };
      // A checkpoint recovery moved past the retired positions names no event: it stands there fine.
      expect(await continuity.check({ position: 9, eventId: undefined })).toMatchObject({ kind: "ok", head: 9 });
      // An event at a retired position is one the store lost (a stream not yet recreated still delivers it): never
      // applied or published. (Before: "ok", and a projector below the range applied it as a phantom row.)
      expect(await continuity.check(lost)).toMatchObject({
        kind: "lost",
        position: 7,
        expectedEventId: lost.eventId,
        head: 9,
      });
      expect(await continuity.diverges(lost, "the stream")).toMatch(/retired.*pnpm orderly recover/);
      expect(await continuity.isRetired(7)).toBe(true);
      expect(await continuity.isRetired(4)).toBe(false);
      expect(await continuity.isRetired(10)).toBe(false);
      expect(await readRetiredRanges(pool, 0, 20)).toEqual([{ first: 5, last: 9 }]);
      expect(await readRetiredRanges(pool, 6, 7)).toEqual([{ first: 5, last: 9 }]);
      expect(await readRetiredRanges(pool, 9, 20)).toEqual([]);
      // Beyond the retired range and the head: behind.
      expect(await continuity.check({ position: 10, eventId: testUuid() })).toMatchObject({ kind: "behind", head: 9 });
      // A position below the head the store holds nothing at, not retired: mismatch with no event.
      await pool.query("delete from retired_positions");
      expect(await continuity.check(lost)).toMatchObject({
        kind: "mismatch",
        position: 7,
        expectedEventId: lost.eventId,
        storeEventId: "",
      });
      // A retired position whose event the store holds elsewhere is not a valid mark.
      await pool.query("insert into retired_positions (first, last, reason) values (5, 9, 'test')");
      expect(await continuity.check({ position: 6, eventId: kept.eventId })).toMatchObject({ kind: "mismatch" });
      // The mark's own event at its own position is ok.
      expect(await continuity.check(kept)).toMatchObject({ kind: "ok" });
      // Another id at a held position is a mismatch, whatever the case of the hex digits.
      expect(await continuity.check({ ...kept, eventId: kept.eventId.toUpperCase() })).toMatchObject({ kind: "ok" });
    } finally {
      await close();
    }
  });
});
