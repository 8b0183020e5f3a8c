import { createHash } from "node:crypto";
import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import type { EventLog } from "@orderly/projector";
import { canonicalSummary, evolveSummary, type OrderSummaryView, orderIdOf } from "./order-summary.js";

/** A fresh fold of every event up to `position`, straight from the event log (the reference for verification). */
export async function foldEventLog(
  eventLog: EventLog,
  position: Position,
  pageSize = 5000,
): Promise<Map<string, OrderSummaryView>> {
  const summaries = new Map<string, OrderSummaryView>();
  let at = 0;
  while (at < position) {
    const page = await eventLog.readAll(at, Math.min(pageSize, position - at));
    if (page.length === 0) break;
    for (const event of page) foldInto(summaries, event);
    at = (page[page.length - 1] as RecordedEvent).position;
  }
  return summaries;
}

function foldInto(summaries: Map<string, OrderSummaryView>, event: RecordedEvent): void {
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
