import { describe, expect, it } from "vitest";
import { IdempotencyKeyReusedError, VersionConflictError } from "../errors.js";
import type { CommandOutcome, EventStore } from "../event-store.js";
import { rejection, streamName, testAppendRequest, testRequestHash } from "./contract-fixtures.js";

/**
 * The contract's idempotency: stored outcomes, reused keys, racing duplicates.
 * `store()` is the empty store the contract's beforeEach made for the running test.
 */
export function idempotencyContract(store: () => EventStore): void {
  describe("idempotency", () => {
    it("returns the stored outcome with duplicate = true and appends nothing for the same key and request", async () => {
      const id = streamName();
      const first = await store().append(testAppendRequest(id, { key: "create-1", expectedVersion: "no_stream" }));
      expect(first.duplicate).toBe(false);
      // A retry carries new event ids and would now conflict: the key decides before the version does.
      const again = await store().append(testAppendRequest(id, { key: "create-1", expectedVersion: "no_stream" }));
      expect(again).toEqual({ ...first, duplicate: true });
      expect(await store().headPosition()).toBe(1);
      expect((await store().readStream(id)).version).toBe(1);
      expect(await store().findCommand("create-1")).toEqual({
        ...first,
        duplicate: true,
        requestHash: testRequestHash("create-1"),
      });
    });

    it("keeps returning the original outcome after the stream moved on", async () => {
      const id = streamName();
      const first = await store().append(testAppendRequest(id, { key: "k-first" }));
      await store().append(testAppendRequest(id, { key: "k-second" }));
      expect(await store().append(testAppendRequest(id, { key: "k-first" }))).toEqual({ ...first, duplicate: true });
    });

    it("throws IdempotencyKeyReusedError for the same key with a different request, appending nothing", async () => {
      const id = streamName();
      await store().append(testAppendRequest(id, { key: "k", request: "create A" }));
      const error = await rejection(store().append(testAppendRequest(streamName(), { key: "k", request: "create B" })));
      expect(error).toBeInstanceOf(IdempotencyKeyReusedError);
      expect(error).toMatchObject({ code: "already_exists", idempotencyKey: "k" });
      expect(await store().headPosition()).toBe(1);
      expect((await store().findCommand("k"))?.requestHash).toBe(testRequestHash("create A"));
    });

    it("treats keys as global across streams", async () => {
      const first = await store().append(testAppendRequest(streamName(), { key: "global" }));
      const again = await store().append(testAppendRequest(streamName(), { key: "global" }));
      expect(again).toEqual({ ...first, duplicate: true });
      expect(await store().headPosition()).toBe(1);
    });

    it("a rejected command leaves no trace: the key can be used again", async () => {
      const id = streamName();
      await store().append(testAppendRequest(id));
      const conflict = await rejection(store().append(testAppendRequest(id, { key: "retry-me", expectedVersion: 5 })));
      expect(conflict).toBeInstanceOf(VersionConflictError);
      expect(await store().findCommand("retry-me")).toBeUndefined();
      const fixed = await store().append(
        testAppendRequest(id, { key: "retry-me", request: "fixed", expectedVersion: 1 }),
      );
      expect(fixed).toMatchObject({ duplicate: false, streamVersion: 2, position: 2 });
      expect(await store().findCommand("unknown")).toBeUndefined();
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
      const outcomes = await Promise.all(requests.map((request) => store().append(request)));
      const accepted = outcomes.filter((o) => !o.duplicate);
      expect(accepted).toHaveLength(1);
      const winner = accepted[0] as CommandOutcome;
      expect(outcomes.filter((o) => o.duplicate)).toHaveLength(19);
      for (const outcome of outcomes) expect(outcome).toEqual({ ...winner, duplicate: outcome.duplicate });
      expect(winner).toMatchObject({ streamVersion: 2, position: 2 });
      const read = await store().readStream(id);
      expect(read.events).toHaveLength(2);
      expect(read.events.every((e) => e.metadata.commandId === winner.commandId)).toBe(true);
      expect(await store().headPosition()).toBe(2);
    });

    it("in one burst, serialises same-key requests in arrival order", async () => {
      const id = streamName();
      await store().append(testAppendRequest(id));
      const results = await Promise.allSettled([
        store().append(testAppendRequest(id, { key: "burst", request: "r1", expectedVersion: 9 })), // conflict: no trace
        store().append(testAppendRequest(id, { key: "burst", request: "r2", expectedVersion: 1 })), // accepted
        store().append(testAppendRequest(id, { key: "burst", request: "r2", expectedVersion: 1 })), // duplicate
        store().append(testAppendRequest(id, { key: "burst", request: "r3" })), // reused
        store().append(testAppendRequest(id, { expectedVersion: 2 })), // sees the accepted r2
      ]);
      expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled", "rejected", "fulfilled"]);
      const [r1, r2, r3, r4, r5] = results;
      expect(r1?.status === "rejected" && r1.reason).toBeInstanceOf(VersionConflictError);
      expect(r2?.status === "fulfilled" && r2.value).toMatchObject({ duplicate: false, streamVersion: 2 });
      expect(r3?.status === "fulfilled" && r3.value).toMatchObject({ duplicate: true, streamVersion: 2 });
      expect(r4?.status === "rejected" && r4.reason).toBeInstanceOf(IdempotencyKeyReusedError);
      expect(r5?.status === "fulfilled" && r5.value).toMatchObject({ duplicate: false, streamVersion: 3 });
      expect(await store().headPosition()).toBe(3);
    });
  });
}
