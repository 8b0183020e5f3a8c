import type { RecordedEvent } from "@orderly/eventsourcing";

/** What the projector logs about a committed batch's traced events (issue 7). */
export interface TracedBatch {
  readonly from: number;
  readonly to: number;
  readonly events: number;
  readonly traced: number;
  readonly traceparents: string[];
  readonly traceIds: string[];
}

/**
 * A command's traceparent travels into the projector's log (issue 7): for a committed batch that holds traced events,
 * the positions it covers and the distinct traceparents and trace ids; undefined for a batch without any (which costs
 * one loop over the events).
 */
export function tracedBatch(events: readonly RecordedEvent[]): TracedBatch | undefined {
  let traceparents: Set<string> | undefined;
  let traced = 0;
  for (const event of events) {
    const traceparent = event.metadata.traceparent;
    if (!traceparent) continue;
    traced++;
    if (!traceparents) traceparents = new Set();
    traceparents.add(traceparent);
  }
  if (!traceparents) return undefined;
  const list = [...traceparents];
  return {
    from: (events[0] as RecordedEvent).position,
    to: (events[events.length - 1] as RecordedEvent).position,
    events: events.length,
    traced,
    traceparents: list,
    traceIds: [...new Set(list.map((t) => t.split("-")[1] ?? t))],
  };
}
