import type { Event, RecordedEvent, Upcasters } from "@orderly/eventsourcing";

// An `events` row as the store's reads select it, and the recorded event it is read as.

export interface EventRow {
  position: number;
  event_id: string;
  stream_id: string;
  stream_version: number;
  event_type: string;
  data: unknown;
  command_id: string;
  correlation_id: string;
  causation_id: string;
  traceparent: string | null;
  actor: string | null;
  schema_version: number;
  occurred_at: Date;
  committed_at: Date;
}

export const EVENT_COLUMNS =
  "position, event_id, stream_id, stream_version, event_type, data, command_id, correlation_id, causation_id, traceparent, actor, schema_version, occurred_at, committed_at";

export function toRecordedEvent<E extends Event>(row: EventRow, upcasters: Upcasters): RecordedEvent<E> {
  // Older payloads are read as the current version: nobody past the store sees an old schema.
  const { version, data } = upcasters.needsUpcast(row.event_type, row.schema_version)
    ? upcasters.upcast(row.event_type, row.schema_version, row.data)
    : { version: row.schema_version, data: row.data };
  return {
    type: row.event_type as E["type"],
    data: data as E["data"],
    ...(version !== 1 ? { schemaVersion: version } : {}),
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    position: row.position,
    metadata: {
      eventId: row.event_id,
      commandId: row.command_id,
      correlationId: row.correlation_id,
      causationId: row.causation_id,
      occurredAt: row.occurred_at,
      traceparent: row.traceparent ?? undefined,
      actor: row.actor ?? undefined,
    },
    committedAt: row.committed_at,
  };
}
