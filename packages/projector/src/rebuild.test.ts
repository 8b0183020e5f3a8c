import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import { testRecordedEvent } from "@orderly/eventsourcing/testing";
import { describe, expect, it } from "vitest";
import type { EventLog } from "./projection.js";
import { type RebuildTarget, rebuildProjection } from "./rebuild.js";

function event(position: number): RecordedEvent {
  return testRecordedEvent(position, { data: {}, streamId: "s", streamVersion: position });
}

/** The store after a recovery: 1..40, positions 41..60 retired, then 61..80. */
function gappedLog(retired: { first: number; last: number }[]): EventLog {
  const events = [
    ...Array.from({ length: 40 }, (_, i) => event(i + 1)),
    ...Array.from({ length: 20 }, (_, i) => event(i + 61)),
  ];
  return {
    async readAll(after: Position, limit: number) {
      return events.filter((e) => e.position > after).slice(0, limit);
    },
    async headPosition() {
      return 80;
    },
    async retiredBetween(after: Position, upTo: Position) {
      return retired.filter((r) => r.last > after && r.first <= upTo);
    },
  };
}

/** A shadow that records what it was given; the live checkpoint stands where a recovery moved it. */
class MemoryTarget implements RebuildTarget {
  readonly name = "memory";
  applied: number[] = [];
  shadowCheckpoint = 0;
  constructor(private readonly liveCheckpoint: Position) {}
  async dropShadow() {}
  async createShadow() {
    this.applied = [];
    this.shadowCheckpoint = 0;
  }
  async applyToShadow(events: readonly RecordedEvent[], after: Position) {
    if (after !== this.shadowCheckpoint) throw new Error(`shadow is at ${this.shadowCheckpoint}, not ${after}`);
    for (const e of events) this.applied.push(e.position);
    this.shadowCheckpoint = (events[events.length - 1] as RecordedEvent).position;
  }
  async verify() {
    return { rows: 0, checksum: "", expectedRows: 0, expectedChecksum: "" };
  }
  async swap(shadowCheckpoint: Position, catchUp: (from: Position, to: Position) => Promise<void>) {
    if (this.liveCheckpoint > shadowCheckpoint) await catchUp(shadowCheckpoint, this.liveCheckpoint);
    return Math.max(this.liveCheckpoint, shadowCheckpoint);
  }
  async dropOld() {}
}

describe("rebuildProjection across retired positions", () => {
  it("copies across a retired range, and catches the shadow up to a live checkpoint standing on one", async () => {
    const target = new MemoryTarget(90); // moved past 81..90, retired after the store's last event
    const result = await rebuildProjection(
      target,
      gappedLog([
        { first: 41, last: 60 },
        { first: 81, last: 90 },
      ]),
      { batchSize: 16 },
    );
    expect(target.applied).toEqual([
      ...Array.from({ length: 40 }, (_, i) => i + 1),
      ...Array.from({ length: 20 }, (_, i) => i + 61),
    ]);
    expect(result.position).toBe(90);
  });

  it("stops at a hole no recovery recorded", async () => {
    const target = new MemoryTarget(0);
    await expect(rebuildProjection(target, gappedLog([]), { batchSize: 16 })).rejects.toThrow(
      /position 61 after 40: positions 41\.\.60 hold no event/,
    );
  });
});
