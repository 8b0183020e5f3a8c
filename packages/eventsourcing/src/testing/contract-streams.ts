import { describe, expect, it } from "vitest";
import { ValidationError, VersionConflictError } from "../errors.js";
import type { EventMetadata } from "../event.js";
import type { AppendRequest, EventStore } from "../event-store.js";
import { rejection, streamName, testAppendRequest, testUuid } from "./contract-fixtures.js";

/**
 * The contract's streams and versions, expected version and request validation.
 * `store()` is the empty store the contract's beforeEach made for the running test.
 */
export function streamsAndVersionsContract(store: () => EventStore): void {
  describe("streams and versions", () => {
    it("reads a missing stream as version 0 with no events, and an empty store at head 0", async () => {
      expect(await store().readStream(streamName())).toEqual({ version: 0, events: [] });
      expect(await store().headPosition()).toBe(0);
      expect(await store().readAll(0, 10)).toEqual([]);
    });

    it("starts a stream at version 1 and position 1, and records data and metadata faithfully", async () => {
      const id = streamName();
      const data = {
        text: `quote ' "double" \\ back{slash}, [brackets] 日本 😀`,
        nested: { list: [1, 2.5, null, true], empty: {} },
        amountMinor: 1999,
      };
      const request = testAppendRequest(id, {
        expectedVersion: "no_stream",
        events: [{ type: "OrderPlaced", data }],
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        actor: "svc-checkout",
      });
      const outcome = await store().append(request);
      const metadata = request.events[0]?.metadata as EventMetadata;
      expect(outcome).toEqual({
        commandId: metadata.commandId,
        streamId: id,
        streamVersion: 1,
        position: 1,
        duplicate: false,
      });
      const read = await store().readStream(id);
      expect(read.version).toBe(1);
      expect(read.events).toHaveLength(1);
      const event = read.events[0];
      expect(event).toMatchObject({ type: "OrderPlaced", data, streamId: id, streamVersion: 1, position: 1 });
      expect(event?.metadata).toEqual({ ...metadata, occurredAt: metadata.occurredAt });
      expect(event?.metadata.actor).toBe("svc-checkout");
      expect(event?.metadata.occurredAt.getTime()).toBe(metadata.occurredAt.getTime());
      expect(event?.committedAt).toBeInstanceOf(Date);
      expect(await store().readAll(0, 10)).toEqual(read.events);
    });

    it("leaves traceparent and actor undefined when none came in", async () => {
      const id = streamName();
      await store().append(testAppendRequest(id));
      const [event] = (await store().readStream(id)).events;
      expect(event?.metadata.traceparent).toBeUndefined();
      expect(event?.metadata.actor).toBeUndefined();
    });

    it("numbers the events of one append consecutively, without holes", async () => {
      const id = streamName();
      const events = [1, 2, 3].map((n) => ({ type: "ThingHappened", data: { n } }));
      const first = await store().append(testAppendRequest(id, { expectedVersion: "no_stream", events }));
      expect(first).toMatchObject({ streamVersion: 3, position: 3 });
      const second = await store().append(testAppendRequest(id, { expectedVersion: 3, events }));
      expect(second).toMatchObject({ streamVersion: 6, position: 6 });
      const read = await store().readStream(id);
      expect(read.version).toBe(6);
      expect(read.events.map((e) => e.streamVersion)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(read.events.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(read.events.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3, 1, 2, 3]);
    });

    it("keeps each stream's versions separate while positions are global", async () => {
      const a = streamName();
      const b = streamName();
      await store().append(testAppendRequest(a));
      await store().append(testAppendRequest(b));
      await store().append(testAppendRequest(a));
      expect((await store().readStream(a)).events.map((e) => [e.streamVersion, e.position])).toEqual([
        [1, 1],
        [2, 3],
      ]);
      expect((await store().readStream(b)).events.map((e) => [e.streamVersion, e.position])).toEqual([[1, 2]]);
    });
  });

  describe("expected version", () => {
    it("'any' appends to a new and to an existing stream", async () => {
      const id = streamName();
      expect(await store().append(testAppendRequest(id, { expectedVersion: "any" }))).toMatchObject({
        streamVersion: 1,
      });
      expect(await store().append(testAppendRequest(id, { expectedVersion: "any" }))).toMatchObject({
        streamVersion: 2,
      });
    });

    it("'no_stream' fails on an existing stream with the actual version", async () => {
      const id = streamName();
      await store().append(testAppendRequest(id, { expectedVersion: "no_stream" }));
      const error = await rejection(store().append(testAppendRequest(id, { expectedVersion: "no_stream" })));
      expect(error).toBeInstanceOf(VersionConflictError);
      expect(error).toMatchObject({ code: "aborted", streamId: id, expected: "no_stream", actual: 1 });
    });

    it("an exact version appends only when it matches", async () => {
      const id = streamName();
      await store().append(testAppendRequest(id));
      await store().append(testAppendRequest(id));
      expect(await store().append(testAppendRequest(id, { expectedVersion: 2 }))).toMatchObject({ streamVersion: 3 });
      const stale = await rejection(store().append(testAppendRequest(id, { expectedVersion: 2 })));
      expect(stale).toBeInstanceOf(VersionConflictError);
      expect(stale).toMatchObject({ expected: 2, actual: 3 });
      const ahead = await rejection(store().append(testAppendRequest(id, { expectedVersion: 7 })));
      expect(ahead).toMatchObject({ expected: 7, actual: 3 });
    });

    it("an exact version on a missing stream fails with actual 'no_stream'", async () => {
      const error = await rejection(store().append(testAppendRequest(streamName(), { expectedVersion: 1 })));
      expect(error).toBeInstanceOf(VersionConflictError);
      expect(error).toMatchObject({ expected: 1, actual: "no_stream" });
    });

    it("a conflict appends nothing", async () => {
      const id = streamName();
      await store().append(testAppendRequest(id));
      await rejection(store().append(testAppendRequest(id, { expectedVersion: "no_stream" })));
      expect(await store().headPosition()).toBe(1);
      expect((await store().readStream(id)).version).toBe(1);
      expect(await store().append(testAppendRequest(streamName()))).toMatchObject({ position: 2 });
    });

    it("rejects malformed requests with ValidationError", async () => {
      const empty = { ...testAppendRequest(streamName()), events: [] };
      expect(await rejection(store().append(empty))).toBeInstanceOf(ValidationError);
      const zero = testAppendRequest(streamName(), { expectedVersion: 0 });
      expect(await rejection(store().append(zero))).toBeInstanceOf(ValidationError);
      const undated = testAppendRequest(streamName());
      const [first] = undated.events;
      const badDate = {
        ...undated,
        events: [{ ...first, metadata: { ...first?.metadata, occurredAt: new Date(Number.NaN) } }],
      };
      expect(await rejection(store().append(badDate as AppendRequest))).toMatchObject({
        name: "ValidationError",
        field: "occurred_at",
      });
      expect(await store().headPosition()).toBe(0);
    });

    it("stores stream ids and idempotency keys with quotes, backslashes, braces, commas and NULL as they are", async () => {
      const id = `odd "stream" \\ {a,b} NULL ${testUuid()}`;
      const key = `key "1" \\ {x,y} NULL ${testUuid()}`;
      const first = await store().append(testAppendRequest(id, { key }));
      expect(first).toMatchObject({ streamId: id, streamVersion: 1, duplicate: false });
      expect(await store().append(testAppendRequest(id, { key }))).toEqual({ ...first, duplicate: true });
      expect((await store().readStream(id)).events.map((e) => e.streamId)).toEqual([id]);
      expect(await store().findCommand(key)).toMatchObject({ streamId: id, streamVersion: 1 });
    });
  });
}
