import { beforeEach, describe, expect, it } from "vitest";
import { IdempotencyKeyReusedError, ValidationError, VersionConflictError } from "../errors.js";
import type { Event, EventMetadata } from "../event.js";
import type { AppendRequest, CommandOutcome, EventStore, IdempotencyClaim } from "../event-store.js";
import type { ExpectedVersion } from "../expected-version.js";

/** Creates a store with no events in it; called before every test of the contract. */
export type EventStoreFactory = () => EventStore | Promise<EventStore>;

/** A random v4 UUID (test data only: Math.random keeps this package free of I/O). */
export function testUuid(): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  const s = hex.join("");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/**
 * The metadata of an event written by command `commandId` (its own correlation and causation), occurring now.
 * `extra` adds or replaces fields (a bench passes `eventId` from `node:crypto` to keep `testUuid` out of its loop).
 */
export function testMetadata(commandId: string = testUuid(), extra: Partial<EventMetadata> = {}): EventMetadata {
  return {
    eventId: extra.eventId ?? testUuid(),
    commandId,
    correlationId: commandId,
    causationId: commandId,
    occurredAt: new Date(),
    ...extra,
  };
}

/** A hex "sha-256" for tests: any 64 hex digits, derived from a label so equal labels mean equal requests. */
export function testRequestHash(label: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < label.length; i++) {
    h1 = Math.imul(h1 ^ label.charCodeAt(i), 16777619) >>> 0;
    h2 = Math.imul(h2 + label.charCodeAt(i), 2246822507) >>> 0;
  }
  const part = (h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0")).repeat(4);
  return part.slice(0, 64);
}

export interface TestAppendOptions {
  readonly expectedVersion?: ExpectedVersion;
  readonly events?: readonly Event[];
  readonly key?: string;
  /** Label of the request for `testRequestHash` (default: the key, so the same key means the same request). */
  readonly request?: string;
  readonly traceparent?: string;
  readonly actor?: string;
}

/** An append request with fresh ids and metadata. */
export function testAppendRequest(streamId: string, options: TestAppendOptions = {}): AppendRequest {
  const commandId = testUuid();
  const correlationId = testUuid();
  const occurredAt = new Date(Date.UTC(2026, 10, 26, 12, 0, 0, 123));
  const events = options.events ?? [{ type: "ThingHappened", data: { n: 1 } }];
  const idempotency: IdempotencyClaim | undefined =
    options.key === undefined
      ? undefined
      : { key: options.key, requestHash: testRequestHash(options.request ?? options.key) };
  return {
    streamId,
    expectedVersion: options.expectedVersion ?? "any",
    events: events.map((event) => {
      const metadata: EventMetadata = {
        eventId: testUuid(),
        commandId,
        correlationId,
        causationId: commandId,
        occurredAt,
        traceparent: options.traceparent,
        actor: options.actor,
      };
      return { event, metadata };
    }),
    idempotency,
  };
}

function streamName(): string {
  return `order-${testUuid()}`;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

/**
 * The behaviour every EventStore must have (the in-memory and the Postgres store run the same suite). `makeStore`
 * is called before each test and must return an empty store.
 */
export function eventStoreContract(name: string, makeStore: EventStoreFactory): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    describe("streams and versions", () => {
      it("reads a missing stream as version 0 with no events, and an empty store at head 0", async () => {
        expect(await store.readStream(streamName())).toEqual({ version: 0, events: [] });
        expect(await store.headPosition()).toBe(0);
        expect(await store.readAll(0, 10)).toEqual([]);
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
        const outcome = await store.append(request);
        const metadata = request.events[0]?.metadata as EventMetadata;
        expect(outcome).toEqual({
          commandId: metadata.commandId,
          streamId: id,
          streamVersion: 1,
          position: 1,
          duplicate: false,
        });
        const read = await store.readStream(id);
        expect(read.version).toBe(1);
        expect(read.events).toHaveLength(1);
        const event = read.events[0];
        expect(event).toMatchObject({ type: "OrderPlaced", data, streamId: id, streamVersion: 1, position: 1 });
        expect(event?.metadata).toEqual({ ...metadata, occurredAt: metadata.occurredAt });
        expect(event?.metadata.actor).toBe("svc-checkout");
        expect(event?.metadata.occurredAt.getTime()).toBe(metadata.occurredAt.getTime());
        expect(event?.committedAt).toBeInstanceOf(Date);
        expect(await store.readAll(0, 10)).toEqual(read.events);
      });

      it("leaves traceparent and actor undefined when none came in", async () => {
        const id = streamName();
        await store.append(testAppendRequest(id));
        const [event] = (await store.readStream(id)).events;
        expect(event?.metadata.traceparent).toBeUndefined();
        expect(event?.metadata.actor).toBeUndefined();
      });

      it("numbers the events of one append consecutively, without holes", async () => {
        const id = streamName();
        const events = [1, 2, 3].map((n) => ({ type: "ThingHappened", data: { n } }));
        const first = await store.append(testAppendRequest(id, { expectedVersion: "no_stream", events }));
        expect(first).toMatchObject({ streamVersion: 3, position: 3 });
        const second = await store.append(testAppendRequest(id, { expectedVersion: 3, events }));
        expect(second).toMatchObject({ streamVersion: 6, position: 6 });
        const read = await store.readStream(id);
        expect(read.version).toBe(6);
        expect(read.events.map((e) => e.streamVersion)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(read.events.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(read.events.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3, 1, 2, 3]);
      });

      it("keeps each stream's versions separate while positions are global", async () => {
        const a = streamName();
        const b = streamName();
        await store.append(testAppendRequest(a));
        await store.append(testAppendRequest(b));
        await store.append(testAppendRequest(a));
        expect((await store.readStream(a)).events.map((e) => [e.streamVersion, e.position])).toEqual([
          [1, 1],
          [2, 3],
        ]);
        expect((await store.readStream(b)).events.map((e) => [e.streamVersion, e.position])).toEqual([[1, 2]]);
      });
    });

    describe("expected version", () => {
      it("'any' appends to a new and to an existing stream", async () => {
        const id = streamName();
        expect(await store.append(testAppendRequest(id, { expectedVersion: "any" }))).toMatchObject({
          streamVersion: 1,
        });
        expect(await store.append(testAppendRequest(id, { expectedVersion: "any" }))).toMatchObject({
          streamVersion: 2,
        });
      });

      it("'no_stream' fails on an existing stream with the actual version", async () => {
        const id = streamName();
        await store.append(testAppendRequest(id, { expectedVersion: "no_stream" }));
        const error = await rejection(store.append(testAppendRequest(id, { expectedVersion: "no_stream" })));
        expect(error).toBeInstanceOf(VersionConflictError);
        expect(error).toMatchObject({ code: "aborted", streamId: id, expected: "no_stream", actual: 1 });
      });

      it("an exact version appends only when it matches", async () => {
        const id = streamName();
        await store.append(testAppendRequest(id));
        await store.append(testAppendRequest(id));
        expect(await store.append(testAppendRequest(id, { expectedVersion: 2 }))).toMatchObject({ streamVersion: 3 });
        const stale = await rejection(store.append(testAppendRequest(id, { expectedVersion: 2 })));
        expect(stale).toBeInstanceOf(VersionConflictError);
        expect(stale).toMatchObject({ expected: 2, actual: 3 });
        const ahead = await rejection(store.append(testAppendRequest(id, { expectedVersion: 7 })));
        expect(ahead).toMatchObject({ expected: 7, actual: 3 });
      });

      it("an exact version on a missing stream fails with actual 'no_stream'", async () => {
        const error = await rejection(store.append(testAppendRequest(streamName(), { expectedVersion: 1 })));
        expect(error).toBeInstanceOf(VersionConflictError);
        expect(error).toMatchObject({ expected: 1, actual: "no_stream" });
      });

      it("a conflict appends nothing", async () => {
        const id = streamName();
        await store.append(testAppendRequest(id));
        await rejection(store.append(testAppendRequest(id, { expectedVersion: "no_stream" })));
        expect(await store.headPosition()).toBe(1);
        expect((await store.readStream(id)).version).toBe(1);
        expect(await store.append(testAppendRequest(streamName()))).toMatchObject({ position: 2 });
      });

      it("rejects malformed requests with ValidationError", async () => {
        const empty = { ...testAppendRequest(streamName()), events: [] };
        expect(await rejection(store.append(empty))).toBeInstanceOf(ValidationError);
        const zero = testAppendRequest(streamName(), { expectedVersion: 0 });
        expect(await rejection(store.append(zero))).toBeInstanceOf(ValidationError);
        const undated = testAppendRequest(streamName());
        const [first] = undated.events;
        const badDate = {
          ...undated,
          events: [{ ...first, metadata: { ...first?.metadata, occurredAt: new Date(Number.NaN) } }],
        };
        expect(await rejection(store.append(badDate as AppendRequest))).toMatchObject({
          name: "ValidationError",
          field: "occurred_at",
        });
        expect(await store.headPosition()).toBe(0);
      });

      it("stores stream ids and idempotency keys with quotes, backslashes, braces, commas and NULL as they are", async () => {
        const id = `odd "stream" \\ {a,b} NULL ${testUuid()}`;
        const key = `key "1" \\ {x,y} NULL ${testUuid()}`;
        const first = await store.append(testAppendRequest(id, { key }));
        expect(first).toMatchObject({ streamId: id, streamVersion: 1, duplicate: false });
        expect(await store.append(testAppendRequest(id, { key }))).toEqual({ ...first, duplicate: true });
        expect((await store.readStream(id)).events.map((e) => e.streamId)).toEqual([id]);
        expect(await store.findCommand(key)).toMatchObject({ streamId: id, streamVersion: 1 });
      });
    });

    describe("reading the log", () => {
      it("reads all events in position order, after a position, at most `limit`", async () => {
        const streams = [streamName(), streamName(), streamName()];
        for (let i = 0; i < 9; i++) {
          const id = streams[i % 3] as string;
          await store.append(testAppendRequest(id, { events: [{ type: "ThingHappened", data: { i } }] }));
        }
        const all = await store.readAll(0, 100);
        expect(all.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect(all.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
        expect(all.map((e) => e.streamId)).toEqual([...streams, ...streams, ...streams]);
        expect((await store.readAll(4, 3)).map((e) => e.position)).toEqual([5, 6, 7]);
        expect((await store.readAll(7, 100)).map((e) => e.position)).toEqual([8, 9]);
        expect(await store.readAll(9, 100)).toEqual([]);
        expect(await store.readAll(0, 0)).toEqual([]);
        expect(await store.headPosition()).toBe(9);
      });

      it("pages through the whole log without gaps or repeats", async () => {
        const appends = Array.from({ length: 30 }, () =>
          store.append(
            testAppendRequest(streamName(), {
              events: [
                { type: "A", data: {} },
                { type: "B", data: {} },
              ],
            }),
          ),
        );
        await Promise.all(appends);
        const seen: number[] = [];
        let after = 0;
        for (;;) {
          const page = await store.readAll(after, 7);
          if (page.length === 0) break;
          seen.push(...page.map((e) => e.position));
          after = page.at(-1)?.position ?? after;
        }
        expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
        expect(await store.headPosition()).toBe(60);
      });
    });

    describe("idempotency", () => {
      it("returns the stored outcome with duplicate = true and appends nothing for the same key and request", async () => {
        const id = streamName();
        const first = await store.append(testAppendRequest(id, { key: "create-1", expectedVersion: "no_stream" }));
        expect(first.duplicate).toBe(false);
        // A retry carries new event ids and would now conflict: the key decides before the version does.
        const again = await store.append(testAppendRequest(id, { key: "create-1", expectedVersion: "no_stream" }));
        expect(again).toEqual({ ...first, duplicate: true });
        expect(await store.headPosition()).toBe(1);
        expect((await store.readStream(id)).version).toBe(1);
        expect(await store.findCommand("create-1")).toEqual({
          ...first,
          duplicate: true,
          requestHash: testRequestHash("create-1"),
        });
      });

      it("keeps returning the original outcome after the stream moved on", async () => {
        const id = streamName();
        const first = await store.append(testAppendRequest(id, { key: "k-first" }));
        await store.append(testAppendRequest(id, { key: "k-second" }));
        expect(await store.append(testAppendRequest(id, { key: "k-first" }))).toEqual({ ...first, duplicate: true });
      });

      it("throws IdempotencyKeyReusedError for the same key with a different request, appending nothing", async () => {
        const id = streamName();
        await store.append(testAppendRequest(id, { key: "k", request: "create A" }));
        const error = await rejection(store.append(testAppendRequest(streamName(), { key: "k", request: "create B" })));
        expect(error).toBeInstanceOf(IdempotencyKeyReusedError);
        expect(error).toMatchObject({ code: "already_exists", idempotencyKey: "k" });
        expect(await store.headPosition()).toBe(1);
        expect((await store.findCommand("k"))?.requestHash).toBe(testRequestHash("create A"));
      });

      it("treats keys as global across streams", async () => {
        const first = await store.append(testAppendRequest(streamName(), { key: "global" }));
        const again = await store.append(testAppendRequest(streamName(), { key: "global" }));
        expect(again).toEqual({ ...first, duplicate: true });
        expect(await store.headPosition()).toBe(1);
      });

      it("a rejected command leaves no trace: the key can be used again", async () => {
        const id = streamName();
        await store.append(testAppendRequest(id));
        const conflict = await rejection(store.append(testAppendRequest(id, { key: "retry-me", expectedVersion: 5 })));
        expect(conflict).toBeInstanceOf(VersionConflictError);
        expect(await store.findCommand("retry-me")).toBeUndefined();
        const fixed = await store.append(
          testAppendRequest(id, { key: "retry-me", request: "fixed", expectedVersion: 1 }),
        );
        expect(fixed).toMatchObject({ duplicate: false, streamVersion: 2, position: 2 });
        expect(await store.findCommand("unknown")).toBeUndefined();
      });

      it("20 racing identical requests: one accepted, 19 duplicates, one set of events", async () => {
        const id = streamName();
        const requests = Array.from({ length: 20 }, () =>
          testAppendRequest(id, {
            key: "race",
            expectedVersion: "no_stream",
            events: [
              { type: "A", data: {} },
              { type: "B", data: {} },
            ],
          }),
        );
        const outcomes = await Promise.all(requests.map((request) => store.append(request)));
        const accepted = outcomes.filter((o) => !o.duplicate);
        expect(accepted).toHaveLength(1);
        const winner = accepted[0] as CommandOutcome;
        expect(outcomes.filter((o) => o.duplicate)).toHaveLength(19);
        for (const outcome of outcomes) expect(outcome).toEqual({ ...winner, duplicate: outcome.duplicate });
        expect(winner).toMatchObject({ streamVersion: 2, position: 2 });
        const read = await store.readStream(id);
        expect(read.events).toHaveLength(2);
        expect(read.events.every((e) => e.metadata.commandId === winner.commandId)).toBe(true);
        expect(await store.headPosition()).toBe(2);
      });

      it("in one burst, serialises same-key requests in arrival order", async () => {
        const id = streamName();
        await store.append(testAppendRequest(id));
        const results = await Promise.allSettled([
          store.append(testAppendRequest(id, { key: "burst", request: "r1", expectedVersion: 9 })), // conflict: no trace
          store.append(testAppendRequest(id, { key: "burst", request: "r2", expectedVersion: 1 })), // accepted
          store.append(testAppendRequest(id, { key: "burst", request: "r2", expectedVersion: 1 })), // duplicate
          store.append(testAppendRequest(id, { key: "burst", request: "r3" })), // reused
          store.append(testAppendRequest(id, { expectedVersion: 2 })), // sees the accepted r2
        ]);
        expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled", "rejected", "fulfilled"]);
        const [r1, r2, r3, r4, r5] = results;
        expect(r1?.status === "rejected" && r1.reason).toBeInstanceOf(VersionConflictError);
        expect(r2?.status === "fulfilled" && r2.value).toMatchObject({ duplicate: false, streamVersion: 2 });
        expect(r3?.status === "fulfilled" && r3.value).toMatchObject({ duplicate: true, streamVersion: 2 });
        expect(r4?.status === "rejected" && r4.reason).toBeInstanceOf(IdempotencyKeyReusedError);
        expect(r5?.status === "fulfilled" && r5.value).toMatchObject({ duplicate: false, streamVersion: 3 });
        expect(await store.headPosition()).toBe(3);
      });
    });

    describe("concurrency", () => {
      it("of appenders racing with the same expected version exactly one wins", async () => {
        const id = streamName();
        await store.append(testAppendRequest(id));
        const results = await Promise.allSettled(
          Array.from({ length: 25 }, () => store.append(testAppendRequest(id, { expectedVersion: 1 }))),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const losers = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        expect(losers).toHaveLength(24);
        for (const loser of losers) expect(loser.reason).toMatchObject({ code: "aborted", actual: 2 });
        expect((await store.readStream(id)).version).toBe(2);
      });

      it("serialises concurrent 'any' appenders to one stream: versions 1..N, no holes", async () => {
        const id = streamName();
        const outcomes = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            store.append(testAppendRequest(id, { events: [{ type: "ThingHappened", data: { i } }] })),
          ),
        );
        expect(outcomes.map((o) => o.streamVersion).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 40 }, (_, i) => i + 1),
        );
        const read = await store.readStream(id);
        expect(read.events.map((e) => e.streamVersion)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
        expect(new Set(read.events.map((e) => (e.data as { i: number }).i)).size).toBe(40);
      });

      it("gives concurrent appends to many streams the positions 1..N, each event exactly once", async () => {
        const requests = Array.from({ length: 100 }, (_, i) =>
          testAppendRequest(streamName(), {
            key: `many-${i}`,
            expectedVersion: "no_stream",
            events: Array.from({ length: 1 + (i % 3) }, (_, j) => ({ type: "ThingHappened", data: { i, j } })),
          }),
        );
        const outcomes = await Promise.all(requests.map((request) => store.append(request)));
        const total = requests.reduce((sum, r) => sum + r.events.length, 0);
        const all = await store.readAll(0, total + 10);
        expect(all.map((e) => e.position)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
        const ids = all.map((e) => e.metadata.eventId);
        expect(new Set(ids).size).toBe(total);
        expect(new Set(ids)).toEqual(new Set(requests.flatMap((r) => r.events.map((e) => e.metadata.eventId))));
        outcomes.forEach((outcome, i) => {
          const request = requests[i] as AppendRequest;
          const last = all.find((e) => e.position === outcome.position);
          expect(last?.metadata.eventId).toBe(request.events.at(-1)?.metadata.eventId);
          expect(outcome.streamVersion).toBe(request.events.length);
        });
      });
    });
  });
}
