import type pg from "pg";

// How the store's readers select an event in its text form (`StoredEventText`/`StoredEventColumns` of
// @orderly/eventsourcing): one column list and one timestamp rounding for the relay's tail, the EventService's feed
// and the projectors' event log alike.

/**
 * A timestamptz column as epoch milliseconds rounded down, in exact numeric arithmetic (cast it: `::int8` for text,
 * `::float8` for a number). Rounded down because that is what `pg` puts in a Date (it drops the microseconds): an
 * event read as text and the same event read as a RecordedEvent carry the same millisecond.
 */
export function epochMsSql(column: string): string {
  return `floor(extract(epoch from ${column}) * 1000)`;
}

/** The columns of `StoredEventColumns`, in its order, on the `events` table. */
export const STORED_EVENT_COLUMNS = `position, event_id, stream_id, stream_version, event_type, data, command_id,
  correlation_id, causation_id, traceparent, ${epochMsSql("occurred_at")}::int8, ${epochMsSql("committed_at")}::int8,
  actor, schema_version`;

/**
 * Every column as its text form (`pg`'s per-row parsing is the read limit, MEASURED.md; the envelope writer wants
 * text anyway).
 */
export const TEXT_COLUMNS = {
  getTypeParser: () => (value: string) => value,
} as unknown as pg.CustomTypesConfig;
