// The ports the EventService needs, declared here by their user; packages/event-store-postgres implements them
// (PostgresEventLog, CommitNotifications), the only package that touches the store's tables.

/** One stored event in text form (the columns as Postgres returns them); see StoredEventRow in the store. */
export interface LoggedEvent {
  readonly position: string;
  readonly eventId: string;
  readonly streamId: string;
  readonly streamVersion: string;
  readonly type: string;
  readonly data: string;
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent: string | null;
  readonly occurredAtMs: string;
  readonly committedAtMs: string;
  readonly actor: string | null;
  readonly schemaVersion: number;
}

export interface EventLogPage {
  readonly events: readonly LoggedEvent[];
  /** Read up to here (the last event of a full page, else the head): the next cursor. */
  readonly readTo: number;
  /** The head in the same snapshot. */
  readonly head: number;
}

/** Pages of the event log in position order. */
export interface EventLog {
  read(after: number, limit: number, types?: readonly string[]): Promise<EventLogPage>;
}
