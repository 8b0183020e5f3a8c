import type { Upcasters } from "./upcasters.js";

/**
 * A recorded event in its text form: the columns of the event store as Postgres returns them as text, with no Date
 * and no parsed payload. The outbox relay and the EventService encode envelopes straight from it (docs/adr/0017), so
 * a hot path never builds a RecordedEvent. Declared here, beside `RecordedEvent`, because four packages meet on it:
 * the store produces it, the relay and the query service carry it, the bus encodes it.
 *
 * Timestamps are whole epoch milliseconds rounded down (floor), in every reader of the store: what `pg` puts in a
 * Date (it drops the microseconds), so an event read as text and the same event read as a RecordedEvent agree.
 */
export interface StoredEventText {
  /** Decimal. */
  readonly position: string;
  readonly eventId: string;
  readonly streamId: string;
  /** Decimal. */
  readonly streamVersion: string;
  readonly type: string;
  /** The payload as JSON text (the `data` column), after any upcasting. */
  readonly data: string;
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** Null or empty when none came in. */
  readonly traceparent: string | null;
  /** The audit identity; null or empty when auth was off. */
  readonly actor: string | null;
  /** Schema version of `data` (after any upcasting); 1 for rows written before versions were recorded. */
  readonly schemaVersion: number;
  /** occurred_at as whole epoch milliseconds, rounded down, decimal. */
  readonly occurredAtMs: string;
  /** committed_at (the appending transaction's start) as whole epoch milliseconds, rounded down, decimal. */
  readonly committedAtMs: string;
}

/**
 * One stored event as a row of text columns, in the order the store's reads return them (`STORED_EVENT_COLUMNS` of
 * @orderly/event-store-postgres). The relay keeps rows in this form until it encodes them: no object per event.
 */
export type StoredEventColumns = readonly [
  position: string,
  eventId: string,
  streamId: string,
  streamVersion: string,
  eventType: string,
  data: string,
  commandId: string,
  correlationId: string,
  causationId: string,
  traceparent: string | null,
  occurredAtMs: string,
  committedAtMs: string,
  actor: string | null,
  /** Null from rows written before versions were recorded: 1. */
  schemaVersion: string | null,
];

/** A StoredEventText that `readStoredEventColumns` fills in place. */
export type WritableStoredEventText = { -readonly [K in keyof StoredEventText]: StoredEventText[K] };

/** An empty StoredEventText, to be filled by `readStoredEventColumns`. */
export function emptyStoredEventText(): WritableStoredEventText {
  return {
    position: "",
    eventId: "",
    streamId: "",
    streamVersion: "",
    type: "",
    data: "",
    commandId: "",
    correlationId: "",
    causationId: "",
    traceparent: null,
    actor: null,
    schemaVersion: 1,
    occurredAtMs: "",
    committedAtMs: "",
  };
}

/**
 * The one decoder of a stored event's text row: fills `into` from `row` (in place, so a hot loop keeps one object),
 * upcasting an older payload to its type's current version (the payload is parsed only then).
 */
export function readStoredEventColumns(
  row: StoredEventColumns,
  into: WritableStoredEventText,
  upcasters?: Pick<Upcasters, "needsUpcast" | "upcast">,
): WritableStoredEventText {
  // Indexed, not destructured: array destructuring goes through the iterator protocol, on the hot path.
  const type = row[4];
  let data = row[5];
  let schemaVersion = row[13] === null ? 1 : Number(row[13]);
  if (upcasters?.needsUpcast(type, schemaVersion)) {
    const upcast = upcasters.upcast(type, schemaVersion, JSON.parse(data));
    data = JSON.stringify(upcast.data);
    schemaVersion = upcast.version;
  }
  into.position = row[0];
  into.eventId = row[1];
  into.streamId = row[2];
  into.streamVersion = row[3];
  into.type = type;
  into.data = data;
  into.commandId = row[6];
  into.correlationId = row[7];
  into.causationId = row[8];
  into.traceparent = row[9] ?? null;
  into.occurredAtMs = row[10];
  into.committedAtMs = row[11];
  into.actor = row[12] ?? null;
  into.schemaVersion = schemaVersion;
  return into;
}
