import { type Position, seededRandom } from "@orderly/eventsourcing";
import { ProjectionHandlerError } from "@orderly/projector";
import { describe, expect, it } from "vitest";
import { BulkFold, type FoldMark, type ShadowWriter } from "./bulk-fold.js";
import { canonicalSummary, evolveSummary, type FoldableEvent, type OrderSummaryView } from "./order-summary.js";
import { generateOrderHistories } from "./testing.js";

/** The histories' events interleaved at random (each stream in order), at positions 1..n. */
function eventLog(targetEvents: number, seed: number): FoldableEvent[] {
  const random = seededRandom(seed);
  const queues = generateOrderHistories(targetEvents, seed).map((h) => ({ h, next: 0 }));
  const events: FoldableEvent[] = [];
  while (queues.length > 0) {
    // Favour the older orders a little, so some orders span much of the log and others a short stretch.
    const i = Math.floor(random() ** 2 * queues.length);
    const q = queues[i] as (typeof queues)[number];
    const entry = q.h.events[q.next] as (typeof q.h.events)[number];
    q.next++;
    events.push({
      type: entry.event.type,
      data: entry.event.data,
      streamId: `order-${q.h.orderId}`,
      streamVersion: q.next,
      position: events.length + 1,
      metadata: { occurredAt: entry.metadata.occurredAt, eventId: entry.metadata.eventId },
    });
    if (q.next === q.h.events.length) queues.splice(i, 1);
  }
  return events;
}

function freshFold(events: readonly FoldableEvent[], upTo: Position): Map<string, OrderSummaryView> {
  const summaries = new Map<string, OrderSummaryView>();
  for (const e of events) {
    if (e.position > upTo) break;
    const id = e.streamId.slice("order-".length);
    summaries.set(id, evolveSummary(summaries.get(id), e));
  }
  return summaries;
}

/** A shadow in memory that, like the real ones, keeps the later of two writes and answers slowly. */
class MemoryShadow implements ShadowWriter {
  readonly rows = new Map<string, OrderSummaryView>();
  writes = 0;
  rowsWritten = 0;
  loads = 0;
  checkpoint = 0;
  checkpointEventId: string | undefined;
  inFlight = 0;
  maxInFlight = 0;

  async write(rows: readonly OrderSummaryView[]): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 1));
    for (const row of rows) {
      const had = this.rows.get(row.orderId);
      if (!had || had.lastPosition < row.lastPosition) this.rows.set(row.orderId, row);
    }
    this.writes++;
    this.rowsWritten += rows.length;
    this.inFlight--;
  }

  async load(orderIds: readonly string[]): Promise<Map<string, OrderSummaryView>> {
    this.loads++;
    const found = new Map<string, OrderSummaryView>();
    for (const id of orderIds) {
      const row = this.rows.get(id);
      if (row) found.set(id, row);
    }
    return found;
  }

  async setCheckpoint(mark: FoldMark): Promise<void> {
    expect(this.inFlight).toBe(0);
    this.checkpoint = mark.position;
    this.checkpointEventId = mark.eventId;
  }
}

const source = (events: readonly FoldableEvent[], reads: number[] = []) => ({
  async readForFold(after: Position, limit: number): Promise<readonly FoldableEvent[]> {
    reads.push(limit);
    return events.slice(after, after + limit);
  },
});

const canonical = (m: Map<string, OrderSummaryView>) => [...m.values()].map(canonicalSummary).sort();

describe("BulkFold", () => {
  const events = eventLog(6000, 11);

  it("writes each order once when it fits in memory, equal to a fresh fold", async () => {
    const shadow = new MemoryShadow();
    const fold = new BulkFold(source(events), shadow, { pageSize: 700, writeBatch: 100 });
    const progress: number[] = [];
    expect(await fold.replay(0, events.length, (p) => progress.push(p.done))).toBe(events.length);
    const expected = freshFold(events, events.length);
    expect(canonical(shadow.rows)).toEqual(canonical(expected));
    expect(shadow.rowsWritten).toBe(expected.size);
    expect(shadow.checkpoint).toBe(events.length);
    expect(shadow.checkpointEventId).toBe(events[events.length - 1]?.metadata.eventId);
    expect(progress[progress.length - 1]).toBe(events.length);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it("writes quiet orders while it reads, and an order touched again is written again with its later state", async () => {
    const shadow = new MemoryShadow();
    const fold = new BulkFold(source(events), shadow, { pageSize: 500, writeBatch: 50, quietEvents: 300 });
    await fold.replay(0, events.length);
    const expected = freshFold(events, events.length);
    expect(canonical(shadow.rows)).toEqual(canonical(expected));
    expect(shadow.rowsWritten).toBeGreaterThan(expected.size);
    expect(shadow.maxInFlight).toBe(2);
  });

  it("lets go of orders beyond maxOrders and reads them back when a later event needs them", async () => {
    const shadow = new MemoryShadow();
    const fold = new BulkFold(source(events), shadow, { pageSize: 400, writeBatch: 64, maxOrders: 100 });
    await fold.replay(0, events.length);
    expect(canonical(shadow.rows)).toEqual(canonical(freshFold(events, events.length)));
    expect(shadow.loads).toBeGreaterThan(0);
    expect(fold.orders).toBeLessThanOrEqual(100 + 400);
  });

  it("continues from where it ended when the log grew (the chase to the head)", async () => {
    const shadow = new MemoryShadow();
    const fold = new BulkFold(source(events), shadow, { pageSize: 300, maxOrders: 200, quietEvents: 100 });
    let at = 0;
    for (const to of [1000, 1001, 2500, events.length]) {
      at = await fold.replay(at, to);
      expect(shadow.checkpoint).toBe(to);
      expect(canonical(shadow.rows)).toEqual(canonical(freshFold(events, to)));
    }
  });

  it("stops at an event the fold refuses, as the live projection does, and writes no checkpoint", async () => {
    const broken = events.map((e) => (e.position === 3000 ? { ...e, type: "OrderTeleported" } : e));
    const shadow = new MemoryShadow();
    const fold = new BulkFold(source(broken), shadow, { pageSize: 500 });
    const error = await fold.replay(0, broken.length).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionHandlerError);
    expect((error as ProjectionHandlerError).position).toBe(3000);
    expect(shadow.checkpoint).toBe(0);
  });

  it("refuses a page that does not continue the log", async () => {
    const holed = events.filter((e) => e.position !== 1234);
    const fold = new BulkFold(source(holed), new MemoryShadow(), { pageSize: 500 });
    await expect(fold.replay(0, events.length)).rejects.toThrow(/non-consecutive/);
  });

  it("steps over positions a recovery retired, and still refuses a hole no recovery explains", async () => {
    // The log after a recovery: positions 1201..1300 retired (never hold an event), the rest as before.
    const retired = [{ first: 1201, last: 1300 }];
    const holed = events.map((e) => (e.position > 1200 ? { ...e, position: e.position + 100 } : e));
    const head = events.length + 100;
    const gapped = (list: readonly FoldableEvent[]) => ({
      async readForFold(after: Position, limit: number): Promise<readonly FoldableEvent[]> {
        return list.filter((e) => e.position > after).slice(0, limit);
      },
      async retiredBetween(after: Position, upTo: Position) {
        return retired.filter((r) => r.last > after && r.first <= upTo);
      },
    });
    const shadow = new MemoryShadow();
    const fold = new BulkFold(gapped(holed), shadow, { pageSize: 500, writeBatch: 100 });
    expect(await fold.replay(0, head)).toBe(head);
    expect(shadow.checkpoint).toBe(head);
    expect(canonical(shadow.rows)).toEqual(canonical(freshFold(holed, head)));

    // The same log with one more hole, at 1500, that no recovery recorded: refused, as before.
    const unexplained = holed.map((e) => (e.position >= 1500 ? { ...e, position: e.position + 1 } : e));
    const refused = new BulkFold(gapped(unexplained), new MemoryShadow(), { pageSize: 500 });
    await expect(refused.replay(0, head + 1)).rejects.toThrow(/non-consecutive page .*position 1501 after 1499/);
  });

  it("reports a failed write", async () => {
    const shadow = new MemoryShadow();
    let n = 0;
    shadow.write = async () => {
      if (++n === 3) throw new Error("disk full");
    };
    const fold = new BulkFold(source(events), shadow, { pageSize: 500, writeBatch: 50 });
    await expect(fold.replay(0, events.length)).rejects.toThrow("disk full");
    expect(shadow.checkpoint).toBe(0);
  });
});
