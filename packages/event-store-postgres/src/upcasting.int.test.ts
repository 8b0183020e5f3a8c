import { Upcasters } from "@orderly/eventsourcing";
import { testAppendRequest } from "@orderly/eventsourcing/testing";
import { describe, expect, it } from "vitest";
import { PostgresEventFeed } from "./event-feed.js";
import { PostgresEventStore } from "./postgres-event-store.js";
import { migratedDatabaseForFile } from "./test-database.js";

// Schema evolution (docs/events.md): a payload written at v1 is read as v2 through the upcasters given to the store,
// by every read path of this package; new events are written at the current version.

const db = migratedDatabaseForFile();

// v1: { carrier, tracking }; v2 renamed `tracking` to `trackingNumber` and added `trackingUrl`.
const v2 = new Upcasters().register("ThingShipped", 1, (data) => {
  const { tracking, ...rest } = data as { carrier: string; tracking: string };
  return { ...rest, trackingNumber: tracking, trackingUrl: `https://track.example/${tracking}` };
});

describe("upcasting on read", () => {
  it("writes a v1 payload and reads it as v2 (store and feed); new events are written at v2", async () => {
    // Written by a release that knew only v1.
    const before = new PostgresEventStore(db.pool);
    const v1Data = { carrier: "DHL", tracking: "T-1" };
    const written = await before.append(
      testAppendRequest("thing-1", { events: [{ type: "ThingShipped", data: v1Data }] }),
    );
    await before.close();
    const stored = await db.pool.query("select schema_version, data from events where position = $1", [
      written.position,
    ]);
    expect(stored.rows[0]).toEqual({ schema_version: 1, data: v1Data });

    const after = new PostgresEventStore(db.pool, { upcasters: v2 });
    const expected = { carrier: "DHL", trackingNumber: "T-1", trackingUrl: "https://track.example/T-1" };
    const [read] = (await after.readStream("thing-1")).events;
    expect(read?.data).toEqual(expected);
    expect(read?.schemaVersion).toBe(2);
    const [fromAll] = await after.readAll(written.position - 1, 1);
    expect(fromAll?.data).toEqual(expected);
    expect(fromAll?.schemaVersion).toBe(2);

    const feed = new PostgresEventFeed(db.pool, { upcasters: v2 });
    const page = await feed.read(written.position - 1, 1);
    expect(JSON.parse(page.events[0]?.data ?? "null")).toEqual(expected);
    expect(page.events[0]?.schemaVersion).toBe(2);
    // Without upcasters the feed hands on what is stored, saying which version it is.
    const raw = await new PostgresEventFeed(db.pool).read(written.position - 1, 1);
    expect(JSON.parse(raw.events[0]?.data ?? "null")).toEqual(v1Data);
    expect(raw.events[0]?.schemaVersion).toBe(1);

    // A new event is written at the current version and read back untouched.
    const v2Data = { carrier: "UPS", trackingNumber: "U-9", trackingUrl: "u" };
    const next = await after.append(testAppendRequest("thing-2", { events: [{ type: "ThingShipped", data: v2Data }] }));
    const row = await db.pool.query("select schema_version from events where position = $1", [next.position]);
    expect(row.rows[0].schema_version).toBe(2);
    const [again] = (await after.readStream("thing-2")).events;
    expect(again?.data).toEqual(v2Data);
    expect(again?.schemaVersion).toBe(2);
    // Types without upcasters stay at version 1 (left out of RecordedEvent).
    await after.append(testAppendRequest("thing-3", { events: [{ type: "ThingHappened", data: { n: 1 } }] }));
    const [plain] = (await after.readStream("thing-3")).events;
    expect(plain?.schemaVersion).toBeUndefined();
    await after.close();
  });
});
