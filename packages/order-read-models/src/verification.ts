import { createHash } from "node:crypto";
import type { Position } from "@orderly/eventsourcing";
import type { EventLog } from "@orderly/projector";
import { foldSourceOf } from "./bulk-fold.js";
import {
  canonicalSummary,
  evolveSummary,
  type FoldableEvent,
  type OrderSummaryView,
  orderIdOf,
} from "./order-summary.js";

/**
 * A fresh fold of every event up to `position`, straight from the event log (the reference for verification): in
 * memory, with nothing of the rebuild's batching, writing or reading back. Reads through `readForFold` when the log
 * has it (`PostgresEventLog`, whose test compares it with `readAll`).
 */
export async function foldEventLog(
  eventLog: EventLog & { readForFold?: (after: Position, limit: number) => Promise<readonly FoldableEvent[]> },
  position: Position,
  pageSize = 20_000,
): Promise<Map<string, OrderSummaryView>> {
  const source = foldSourceOf(eventLog);
  const summaries = new Map<string, OrderSummaryView>();
  let next = position > 0 ? source.readForFold(0, Math.min(pageSize, position)) : undefined;
  while (next !== undefined) {
    const page = await next;
    const last = page[page.length - 1];
    if (!last) break;
    next =
      last.position < position
        ? source.readForFold(last.position, Math.min(pageSize, position - last.position))
        : undefined;
    next?.catch(() => undefined);
    for (const event of page) foldInto(summaries, event);
  }
  return summaries;
}

function foldInto(summaries: Map<string, OrderSummaryView>, event: FoldableEvent): void {
  const orderId = orderIdOf(event);
  summaries.set(orderId, evolveSummary(summaries.get(orderId), event));
}

/** Row count and sha-256 over the sorted canonical lines of the summaries. */
export function checksumSummaries(summaries: Iterable<OrderSummaryView>): { rows: number; checksum: string } {
  const lines: string[] = [];
  for (const s of summaries) lines.push(canonicalSummary(s));
  lines.sort();
  const hash = createHash("sha256");
  for (const line of lines) hash.update(line).update("\n");
  return { rows: lines.length, checksum: hash.digest("hex") };
}
