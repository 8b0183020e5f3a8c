import { describe, expect, it } from "vitest";
import type { AppendRequest, EventStore } from "../event-store.js";
import { streamName, testAppendRequest } from "./contract-fixtures.js";

/**
 * The contract's concurrency: racing appenders to one stream and to many.
 * `store()` is the empty store the contract's beforeEach made for the running test.
 */
export function concurrencyContract(store: () => EventStore): void {
  describe("concurrency", () => {
    it("of appenders racing with the same expected version exactly one wins", async () => {
      const id = streamName();
      await store().append(testAppendRequest(id));
      const results = await Promise.allSettled(
        Array.from({ length: 25 }, () => store().append(testAppendRequest(id, { expectedVersion: 1 }))),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const losers = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(losers).toHaveLength(24);
      for (const loser of losers) expect(loser.reason).toMatchObject({ code: "aborted", actual: 2 });
      expect((await store().readStream(id)).version).toBe(2);
    });

    it("serialises concurrent 'any' appenders to one stream: versions 1..N, no holes", async () => {
      const id = streamName();
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          store().append(testAppendRequest(id, { events: [{ type: "ThingHappened", data: { i } }] })),
        ),
      );
      expect(outcomes.map((o) => o.streamVersion).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      const read = await store().readStream(id);
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
      const outcomes = await Promise.all(requests.map((request) => store().append(request)));
      const total = requests.reduce((sum, r) => sum + r.events.length, 0);
      const all = await store().readAll(0, total + 10);
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
}
