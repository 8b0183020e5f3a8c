import { orderEventTypes as knownTypes, type OrderEventType } from "@orderly/orders-domain";
import { writeEnvelopeView } from "./envelope-writer.js";

/**
 * A stored event exactly as Postgres returns it in text form: the outbox relay encodes straight from its rows, without
 * building a RecordedEvent (no Date objects, no event object kept per row).
 */
export interface StoredEventText {
  /** Decimal. */
  readonly position: string;
  readonly eventId: string;
  readonly streamId: string;
  /** Decimal. */
  readonly streamVersion: string;
  readonly type: string;
  /** The payload as JSON text (the `data` column). */
  readonly data: string;
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** Null or empty when none came in. */
  readonly traceparent: string | null;
  /** The audit identity; null or empty when auth was off. */
  readonly actor: string | null;
  /** Schema version of `data` (after any upcasting); 1 when absent. */
  readonly schemaVersion?: number | undefined;
  /** occurred_at as whole epoch milliseconds (rounded down, as `pg` reads a timestamptz into a Date), decimal. */
  readonly occurredAtMs: string;
}

/**
 * The EventEnvelope bytes of a stored order event, from its text form: byte for byte what `encodeEnvelope` writes for
 * the RecordedEvent `pg` would read from the same row (tested for every event type), at a fraction of the cost.
 * The result is a view of a shared slab (its `buffer` holds other envelopes too); its bytes never change.
 */
export function encodeStoredEnvelope(stored: StoredEventText): Uint8Array {
  return writeEnvelopeView(
    stored.eventId,
    Number(stored.position),
    stored.streamId,
    Number(stored.streamVersion),
    stored.type as OrderEventType,
    Number(stored.occurredAtMs),
    stored.commandId,
    stored.correlationId,
    stored.causationId,
    stored.traceparent,
    stored.actor,
    JSON.parse(stored.data),
    stored.schemaVersion ?? 1,
  );
}

const knownTypeSet: ReadonlySet<string> = new Set(knownTypes);

/**
 * encodeStoredEnvelope for readers that hand every event on (the EventService): an event type this release does not
 * know is sent with `event_type` set and the `event` case empty, for the consumer to skip and count, instead of
 * failing the read. The outbox relay's path too (`OrdersBus.encodeStored`): the relay is transport.
 */
export function encodeStoredEnvelopeOpen(stored: StoredEventText): Uint8Array {
  const known = knownTypeSet.has(stored.type);
  return writeEnvelopeView(
    stored.eventId,
    Number(stored.position),
    stored.streamId,
    Number(stored.streamVersion),
    stored.type as OrderEventType,
    Number(stored.occurredAtMs),
    stored.commandId,
    stored.correlationId,
    stored.causationId,
    stored.traceparent,
    stored.actor,
    known ? JSON.parse(stored.data) : undefined,
    stored.schemaVersion ?? 1,
    "empty-case",
  );
}
