import { createHash } from "node:crypto";
import type { Position } from "@orderly/eventsourcing";
import type { EventLog, UnknownEventPolicy, UnknownEventTypes } from "@orderly/projector";
import { foldSourceOf } from "./bulk-fold.js";
import {
  canonicalSummary,
  evolveSummary,
  type FoldableEvent,
  type OrderSummaryView,
  orderIdOf,
} from "./order-summary.js";
import { screenUnknown, skipUnknown } from "./unknown-types.js";

/** `skip` for a reference fold: passes unknown types over as the projections do, without counting them again. */
const skipSilently: UnknownEventPolicy = { mode: "skip", skipped() {} };

/**
 * A fresh fold of every event up to `position`, straight from the event log (the reference for verification): in
 * memory, with nothing of the rebuild's batching, writing or reading back. Reads through `readForFold` when the log
 * has it (`PostgresEventLog`, whose test compares it with `readAll`). `unknownTypes` as the read model was built with
 * (PROJECTOR_UNKNOWN_EVENT_TYPES; default `stop`: an unknown type throws).
 */
export async function foldEventLog(
  eventLog: EventLog & { readForFold?: (after: Position, limit: number) => Promise<readonly FoldableEvent[]> },
  position: Position,
  pageSize = 20_000,
  unknownTypes: UnknownEventTypes = "stop",
): Promise<Map<string, OrderSummaryView>> {
  const skipping = unknownTypes === "skip" ? skipSilently : undefined;
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
    for (const event of skipping ? screenUnknown(page, skipping) : page) foldInto(summaries, event, skipping);
  }
  return summaries;
}

function foldInto(
  summaries: Map<string, OrderSummaryView>,
  event: FoldableEvent,
  skipping: UnknownEventPolicy | undefined,
): void {
  const orderId = orderIdOf(event);
  const before = summaries.get(orderId);
  const skipped = skipping && skipUnknown(before, event, skipping);
  const after = skipped ? skipped.after : evolveSummary(before, event);
  if (after) summaries.set(orderId, after);
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
