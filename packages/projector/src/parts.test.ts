import { testRecordedEvent } from "@orderly/eventsourcing/testing";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { ContinuityGuard } from "./continuity-guard.js";
import { projectorMetrics } from "./metrics.js";
import { type ContinuityCheck, silentLogger } from "./projection.js";
import { tracedBatch } from "./traced-batches.js";

// The parts projector.ts is made of, each alone (issue 14): the traced-batch log line and the continuity guard.

describe("tracedBatch", () => {
  it("is undefined for a batch without traced events", () => {
    expect(tracedBatch([testRecordedEvent(1), testRecordedEvent(2)])).toBeUndefined();
  });

  it("names the positions, the distinct traceparents and their trace ids", () => {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const events = [1, 2, 3].map((p) => {
      const e = testRecordedEvent(p);
      return p === 2 ? e : { ...e, metadata: { ...e.metadata, traceparent: tp } };
    });
    expect(tracedBatch(events)).toEqual({
      from: 1,
      to: 3,
      events: 3,
      traced: 2,
      traceparents: [tp],
      traceIds: ["0af7651916cd43dd8448eb211c80319c"],
    });
  });
});

describe("ContinuityGuard", () => {
  const metrics = () => projectorMetrics(new Registry());

  it("agrees with everything without a check", async () => {
    const guard = new ContinuityGuard(undefined, metrics(), silentLogger, "p");
    expect(await guard.agrees({ position: 5, eventId: "x" }, "it", 0)).toBe(true);
    expect(guard.diverged).toBeUndefined();
  });

  it("diverges on a mark the store does not hold, and agrees again once the store holds every mark", async () => {
    const held = new Set([1, 2]);
    const check: ContinuityCheck = {
      diverges: async (mark) => (held.has(mark.position) ? undefined : `store lacks ${mark.position}`),
    };
    const m = metrics();
    const guard = new ContinuityGuard(check, m, silentLogger, "p");
    // Events at or below the checkpoint are not looked up.
    expect(await guard.lastAgrees([testRecordedEvent(3), undefined], 3, "stream")).toBe(true);
    expect(await guard.lastAgrees([testRecordedEvent(3), testRecordedEvent(4)], 2, "stream")).toBe(false);
    expect(guard.diverged).toBe("store lacks 4");
    expect((await m.storeDiverged.get()).values[0]?.value).toBe(1);
    expect(await guard.recheck({ position: 2, eventId: undefined })).toBe(false);
    held.add(4);
    expect(await guard.recheck({ position: 2, eventId: undefined })).toBe(true);
    expect(guard.diverged).toBeUndefined();
    expect((await m.storeDiverged.get()).values[0]?.value).toBe(0);
  });

  it("keeps the process's gauge at 1 while any guard on it (one per partition) is diverged", async () => {
    const m = metrics();
    let held = false;
    const check: ContinuityCheck = { diverges: async () => (held ? undefined : "lost") };
    const a = new ContinuityGuard(check, m, silentLogger, "p.p1");
    expect(await a.agrees({ position: 9, eventId: "x" }, "it", 0)).toBe(false);
    // Another partition's projector starting on the same registry does not hide it, nor does a partition that agrees.
    const b = new ContinuityGuard(check, m, silentLogger, "p.p2");
    expect((await m.storeDiverged.get()).values[0]?.value).toBe(1);
    expect(await b.agrees({ position: 9, eventId: "x" }, "it", 0)).toBe(false);
    held = true;
    expect(await b.recheck({ position: 9, eventId: "x" })).toBe(true);
    expect((await m.storeDiverged.get()).values[0]?.value).toBe(1);
    expect(await a.recheck({ position: 9, eventId: "x" })).toBe(true);
    expect((await m.storeDiverged.get()).values[0]?.value).toBe(0);
  });
});
