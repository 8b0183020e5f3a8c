// Every reader of the store rounds a timestamp the same way: down to the whole millisecond, as `pg` does when it reads
// a timestamptz into a Date. Postgres keeps microseconds (committed_at is the transaction's start); an event read as
// text (relay, EventService) and as a RecordedEvent or fold row (projectors, rebuilds) must carry the same instant.
import { testAppendRequest } from "@orderly/eventsourcing/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresCommitTimes } from "./commit-times.js";
import { PostgresEventFeed } from "./event-feed.js";
import { PostgresEventStore } from "./postgres-event-store.js";
import { PostgresEventLog } from "./projection-event-log.js";
import { PostgresRelayStore } from "./relay-store.js";
import { migratedDatabaseForFile } from "./test-database.js";

const database = migratedDatabaseForFile({ max: 2 });
let store: PostgresEventStore;

// Just below the next millisecond, and just past the half: rounding to nearest would move both up.
const occurredAt = "2026-12-07 10:00:00.999999+00";
const occurredMs = Date.UTC(2026, 11, 7, 10, 0, 0, 999);
const committedAt = "2026-12-07 10:00:01.000500+00";
const committedMs = Date.UTC(2026, 11, 7, 10, 0, 1, 0);

beforeAll(async () => {
  store = new PostgresEventStore(database.pool);
  await store.append(testAppendRequest("rounding-0"));
  await store.append(testAppendRequest("rounding-1"));
  await database.pool.query("update events set occurred_at = $1, committed_at = $2 where position = 2", [
    occurredAt,
    committedAt,
  ]);
});

afterAll(async () => {
  await store?.close();
});

describe("timestamps read from the store", () => {
  it("are whole milliseconds rounded down in every reader", async () => {
    const [recorded] = (await store.readStream("rounding-1")).events;
    expect(recorded?.metadata.occurredAt.getTime()).toBe(occurredMs);
    expect(recorded?.committedAt.getTime()).toBe(committedMs);

    const log = new PostgresEventLog(database.pool);
    const [logged] = await log.readAll(1, 1);
    expect(logged?.metadata.occurredAt.getTime()).toBe(occurredMs);
    expect(logged?.committedAt.getTime()).toBe(committedMs);
    const [folded] = await log.readForFold(1, 1);
    expect(folded?.metadata.occurredAt.getTime()).toBe(occurredMs);

    const [fed] = (await new PostgresEventFeed(database.pool).read(1, 1)).events;
    expect(fed?.occurredAtMs).toBe(String(occurredMs));
    expect(fed?.committedAtMs).toBe(String(committedMs));

    const times = await new PostgresCommitTimes(database.pool).committedAt([2]);
    expect(times.get(2)?.getTime()).toBe(committedMs);

    const session = await new PostgresRelayStore(database.env.databaseUrl).openSession({
      name: "rounding",
      onLost: () => undefined,
    });
    try {
      const [row] = (await session.read(1, 1)).rows;
      expect(row?.[10]).toBe(String(occurredMs));
      expect(row?.[11]).toBe(String(committedMs));
      expect((await session.headAfter(1)).nextCommittedMs).toBe(committedMs);
      await session.writeCheckpoint(1, undefined);
      const standby = await new PostgresRelayStore(database.env.databaseUrl).openSession({
        name: "rounding",
        onLost: () => undefined,
      });
      try {
        expect(await session.tryLock()).toEqual({ locked: true });
        expect(await standby.tryLock()).toMatchObject({ locked: false, oldestPendingMs: committedMs });
      } finally {
        await standby.close();
      }
    } finally {
      await session.close();
    }
  });
});
