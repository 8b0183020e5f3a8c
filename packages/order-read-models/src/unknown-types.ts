import { orderEventTypes } from "@orderly/orders-domain";
import { stopAtUnknownTypes, type UnknownEventPolicy } from "@orderly/projector";
import type { FoldableEvent, OrderSummaryView } from "./order-summary.js";

const known: ReadonlySet<string> = new Set(orderEventTypes);

/** Is it an order event type this code can fold? */
export function isKnownOrderEventType(type: string): boolean {
  return known.has(type);
}

/**
 * The events a batch's fold looks at under `policy` (PROJECTOR_UNKNOWN_EVENT_TYPES). `stop`: all of them (the fold
 * refuses an unknown type: poison, as before). `skip`: every unknown one is reported to the policy; those on an order
 * stream stay (the fold moves that order's stream version past them, see `skipUnknown`), those on any other stream are
 * left out. The checkpoint still moves to the batch's last event: skipped events are seen.
 */
export function screenUnknown<E extends FoldableEvent>(
  events: readonly E[],
  policy: UnknownEventPolicy = stopAtUnknownTypes,
): readonly E[] {
  if (policy.mode === "stop") return events;
  let kept: E[] | undefined;
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as E;
    if (known.has(event.type)) {
      kept?.push(event);
      continue;
    }
    policy.skipped(event);
    if (event.streamId.startsWith("order-")) kept?.push(event);
    else kept ??= events.slice(0, i);
  }
  return kept ?? events;
}

/**
 * In `skip` mode, what an event of an unknown type does to its order's summary: nothing but moving its stream version
 * and last position past it (so the order's next known event follows on). `undefined` for a known type (fold it).
 */
export function skipUnknown(
  before: OrderSummaryView | undefined,
  event: FoldableEvent,
  policy: UnknownEventPolicy,
): { readonly after: OrderSummaryView | undefined } | undefined {
  if (policy.mode === "stop" || known.has(event.type)) return undefined;
  if (!before || event.position <= before.lastPosition) return { after: before };
  return { after: { ...before, version: event.streamVersion, lastPosition: event.position } };
}
