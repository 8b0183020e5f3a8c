import type { CorrelationMetadata } from "./command.js";

/** A domain event as the domain sees it: a type tag and plain JSON-serialisable data. */
export interface Event<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}

/** Where an event came from. Time and ids arrive with the command: the domain has no clock. */
export interface EventMetadata extends CorrelationMetadata {
  readonly eventId: string;
  readonly occurredAt: Date;
}

/** An event as stored: its place in its stream and in the global, gapless, commit-ordered log. */
export interface RecordedEvent<E extends Event = Event> {
  readonly type: E["type"];
  readonly data: E["data"];
  readonly streamId: string;
  /** Version of the stream after this event; starts at 1, no holes. */
  readonly streamVersion: number;
  /** Global position; starts at 1, no holes, commit-ordered. */
  readonly position: number;
  readonly metadata: EventMetadata;
  /** When the appending transaction started (the lag clock). */
  readonly committedAt: Date;
  /**
   * Version of the payload's schema (docs/events.md): what `data` follows, after any upcasting. Absent means 1 (left
   * out at 1, as empty optional metadata is, so version-1 events look as they always did).
   */
  readonly schemaVersion?: number | undefined;
}

/**
 * Positions and versions are JavaScript numbers: exact up to 2^53 (9e15), which at 100,000 events/s lasts
 * 2,800 years. They become int64 only at the protobuf boundary.
 */
export type Position = number;
