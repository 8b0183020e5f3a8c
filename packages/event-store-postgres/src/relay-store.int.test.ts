// The outbox relay's side of the store against a real Postgres: the leader lock, the checkpoint row, the tail read
// and the LISTEN wake-up (the relay's own tests drive it end to end through NATS).
import { testAppendRequest } from "@orderly/eventsourcing/testing";
import { eventually } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresEventStore } from "./postgres-event-store.js";
import { PostgresRelayStore } from "./relay-store.js";
import { migratedDatabaseForFile } from "./test-database.js";

const database = migratedDatabaseForFile({ max: 2 });
let store: PostgresEventStore;
let relayStore: PostgresRelayStore;

beforeAll(async () => {
  store = new PostgresEventStore(database.pool);
  relayStore = new PostgresRelayStore(database.env.databaseUrl);
  for (let i = 0; i < 5; i++) await store.append(testAppendRequest(`thing-${i}`));
});

afterAll(async () => {
  await store?.close();
});

const lost = () => {
  throw new Error("session lost");
};

describe("PostgresRelayStore", () => {
  it("lets one session per relay name hold the lock; a standby sees its lag, and takes the lock once released", async () => {
    const first = await relayStore.openSession({ name: "lock-test", onLost: lost });
    const second = await relayStore.openSession({ name: "lock-test", onLost: lost });
    const other = await relayStore.openSession({ name: "another-relay", onLost: lost });
    try {
      expect(await first.tryLock()).toEqual({ locked: true });
      const standby = await second.tryLock();
      expect(standby).toMatchObject({ locked: false, lagEvents: 5 });
      expect(standby.locked === false && standby.oldestPendingMs).toBeGreaterThan(Date.now() - 600_000);
      expect(await other.tryLock()).toEqual({ locked: true });
      await first.unlock();
      expect(await second.tryLock()).toEqual({ locked: true });
    } finally {
      await Promise.all([first.close(), second.close(), other.close()]);
    }
  });

  it("makes the checkpoint row at 0, moves it forward with its mark, never back", async () => {
    const session = await relayStore.openSession({ name: "checkpoint-test", onLost: lost });
    try {
      expect(await session.readCheckpoint()).toEqual({ position: 0, eventId: undefined });
      const [third] = (await session.read(2, 1)).rows;
      await session.writeCheckpoint(3, third?.[1]);
      await session.writeCheckpoint(2, undefined);
      expect(await session.readCheckpoint()).toEqual({ position: 3, eventId: third?.[1] });
    } finally {
      await session.close();
    }
  });

  it("reads the tail as text after a position, with the id of the event at that position", async () => {
    const session = await relayStore.openSession({ name: "read-test", onLost: lost });
    try {
      const all = await session.read(0, 100);
      expect(all.eventIdAtCursor).toBeUndefined();
      expect(all.rows.map((r) => r[0])).toEqual(["1", "2", "3", "4", "5"]);
      const events = await store.readAll(0, 100);
      const [first] = events;
      const row = all.rows[0];
      expect(row?.[1]).toBe(first?.metadata.eventId);
      expect(row?.[2]).toBe(first?.streamId);
      expect(row?.[4]).toBe(first?.type);
      expect(JSON.parse(row?.[5] ?? "null")).toEqual(first?.data);
      expect(Number(row?.[10])).toBe(first?.metadata.occurredAt.getTime());
      expect(Number(row?.[11])).toBe(first?.committedAt.getTime());
      const page = await session.read(2, 2);
      expect(page.eventIdAtCursor).toBe(events[1]?.metadata.eventId);
      expect(page.rows.map((r) => r[0])).toEqual(["3", "4"]);
      expect(await session.read(5, 10)).toMatchObject({ eventIdAtCursor: events[4]?.metadata.eventId, rows: [] });
      expect((await session.read(99, 10)).eventIdAtCursor).toBeUndefined();
      expect(await session.headAfter(5)).toEqual({ head: 5, nextCommittedMs: undefined });
      expect((await session.headAfter(0)).nextCommittedMs).toBeCloseTo(first?.committedAt.getTime() ?? 0, -1);
    } finally {
      await session.close();
    }
  });

  it("announces each commit's head to a listener", async () => {
    const heads: number[] = [];
    const listener = await relayStore.listen({
      applicationName: "relay-store-test-listen",
      onCommit: (head) => heads.push(head),
      onError: lost,
    });
    try {
      const outcome = await store.append(testAppendRequest("thing-listened"));
      await eventually(() => heads.includes(outcome.position), "the commit announced");
    } finally {
      await listener.close();
    }
  });
});
