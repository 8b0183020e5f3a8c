import type { StoredEventText } from "@orderly/eventsourcing";

// The ports the EventService needs, declared here by their user; packages/event-store-postgres implements them
// (PostgresEventFeed, CommitNotifications), the only package that touches the store's tables. An event travels in
// its text form, `StoredEventText` of @orderly/eventsourcing, which the EventService encodes straight into envelopes.

export interface EventLogPage {
  readonly events: readonly StoredEventText[];
  /** Read up to here (the last event of a full page, else the head): the next cursor. */
  readonly readTo: number;
  /** The head in the same snapshot. */
  readonly head: number;
  /** The id of the event at the cursor in the same snapshot (undefined: none there). */
  readonly cursorEventId?: string | undefined;
}

/** Pages of the event log in position order. */
export interface EventLog {
  read(after: number, limit: number, types?: readonly string[]): Promise<EventLogPage>;
}
