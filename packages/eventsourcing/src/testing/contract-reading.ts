import { describe, expect, it } from "vitest";
import type { EventStore } from "../event-store.js";
import { streamName, testAppendRequest } from "./contract-fixtures.js";

/**
 * The contract's reads of the whole log: order, paging, limits.
 * `store()` is the empty store the contract's beforeEach made for the running test.
 */
export function readingTheLogContract(store: () => EventStore): void {
  describe("reading the log", () => {
    it("reads all events in position order, after a position, at most `limit`", async () => {
      const streams = [streamName(), streamName(), streamName()];
      for (let i = 0; i < 9; i++) {
        const id = streams[i % 3] as string;
        await store().append(testAppendRequest(id, { events: [{ type: "ThingHappened", data: { i } }] }));
      }
      const all = await store().readAll(0, 100);
      expect(all.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(all.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(all.map((e) => e.streamId)).toEqual([...streams, ...streams, ...streams]);
      expect((await store().readAll(4, 3)).map((e) => e.position)).toEqual([5, 6, 7]);
      expect((await store().readAll(7, 100)).map((e) => e.position)).toEqual([8, 9]);
      expect(await store().readAll(9, 100)).toEqual([]);
      expect(await store().readAll(0, 0)).toEqual([]);
      expect(await store().headPosition()).toBe(9);
    });

    it("pages through the whole log without gaps or repeats", async () => {
      const appends = Array.from({ length: 30 }, () =>
        store().append(
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
        const page = await store().readAll(after, 7);
        if (page.length === 0) break;
        seen.push(...page.map((e) => e.position));
        after = page.at(-1)?.position ?? after;
      }
      expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(await store().headPosition()).toBe(60);
    });
  });
}
