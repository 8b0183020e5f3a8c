// The ports the relay declares. Postgres's side (tail read, leader lock, checkpoint row, LISTEN) is implemented by
// `PostgresRelayStore` of @orderly/event-store-postgres, the only package that touches the store's tables; the bus by
// `ordersBus()` of @orderly/event-bus; the continuity check by `StoreContinuity`. Services wire them in `main`.
import type { JetStreamManager } from "@nats-io/jetstream";

/**
 * One event of the outbox tail, every column in Postgres's text form, in this order (the bus encodes straight from
 * it: no RecordedEvent, no Date per event). Timestamps are whole epoch milliseconds rounded down, as `pg` reads them
 * into a Date, so the envelope is the one `encodeEnvelope` writes for the event the store reads.
 */
export type OutboxRow = readonly [
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
  /** The payload's schema version (null from rows written before versions were recorded: 1). */
  schemaVersion: string | null,
];

/** A page of the tail after a position. */
export interface OutboxPage {
  /**
   * The id of the event the store holds at the position read after (checked on the same read: one index probe, no
   * payload); undefined when it holds none there (or the position is 0).
   */
  readonly eventIdAtCursor: string | undefined;
  /** At most the limit asked, in position order. */
  readonly rows: OutboxRow[];
}

/** A relay's checkpoint row: the last position acknowledged whole, and the id of the event there (its mark). */
export interface RelayCheckpoint {
  readonly position: number;
  /** Undefined when written without one (at 0, or by an older relay). */
  readonly eventId: string | undefined;
}

/** The result of one try for the leader lock; when not taken, what a standby reports as lag. */
export type LockAttempt =
  | { readonly locked: true }
  | {
      readonly locked: false;
      /** The store's head minus the relay's checkpoint. */
      readonly lagEvents: number;
      /** Commit time (epoch ms) of the first event past the checkpoint; undefined when none. */
      readonly oldestPendingMs: number | undefined;
    };

/**
 * The relay's database session: one connection that holds the leader lock (a session lock, released with the
 * connection) and on which the active relay reads the tail and writes its checkpoint, strictly one call at a time
 * except that one read may be in flight while the relay encodes (it is awaited before the next call).
 */
export interface RelaySession {
  /** Tries the leader lock once. */
  tryLock(): Promise<LockAttempt>;
  /** Releases the lock (best effort: closing the session releases it too). */
  unlock(): Promise<void>;
  /** The checkpoint row, made at position 0 when missing. */
  readCheckpoint(): Promise<RelayCheckpoint>;
  /** Moves the checkpoint forward to `position` (never back). */
  writeCheckpoint(position: number, eventId: string | undefined): Promise<void>;
  /** The store's head, and the commit time (epoch ms) of the event right after `position` (undefined when none). */
  headAfter(position: number): Promise<{ readonly head: number; readonly nextCommittedMs: number | undefined }>;
  /** The events after `after`, at most `limit`. */
  read(after: number, limit: number): Promise<OutboxPage>;
  close(): Promise<void>;
}

/** A LISTEN for commits; notifications are only a wake-up (the relay also polls). */
export interface CommitListener {
  close(): Promise<void>;
}

/** What the relay needs from the event store. */
export interface RelayStore {
  /**
   * Connects a session for relay `name` (its checkpoint row and its leader lock: one active relay per name). `onLost`
   * is called once the connection fails; the session is then useless. Throws when it cannot connect.
   */
  openSession(options: { readonly name: string; readonly onLost: (error: Error) => void }): Promise<RelaySession>;
  /**
   * Listens for commits: `onCommit` gets the head each commit announces. `onError` once the connection fails (the
   * listener is then closed; listen again). Throws when it cannot connect.
   */
  listen(options: {
    readonly applicationName: string;
    readonly onCommit: (head: number) => void;
    readonly onError: (error: Error) => void;
  }): Promise<CommitListener>;
}

/** A stored event in Postgres's text form, filled in place from an `OutboxRow` for the bus to encode. */
export interface StoredEventText {
  /** Decimal. */
  readonly position: string;
  readonly eventId: string;
  readonly streamId: string;
  /** Decimal. */
  readonly streamVersion: string;
  readonly type: string;
  /** The payload as JSON text. */
  readonly data: string;
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  /** Null or empty when none came in. */
  readonly traceparent: string | null;
  /** The audit identity; null when auth was off. */
  readonly actor: string | null;
  /** Schema version of `data` (after any upcasting). */
  readonly schemaVersion: number;
  /** occurred_at as whole epoch milliseconds, rounded down (as `pg` reads it into a Date), decimal. */
  readonly occurredAtMs: string;
}

/** What the relay needs to know about the bus; `@orderly/event-bus`'s `ordersBus(namespace)` provides it. */
export interface RelayBus {
  /** JetStream stream the events go to. */
  readonly stream: string;
  subject(eventType: string): string;
  /**
   * The message body of a stored event. `stored` is filled in place for the next row: read it during the call only.
   * The returned bytes must not change afterwards (nats.js copies them at its next flush).
   */
  encodeStored(stored: StoredEventText): Uint8Array;
  /** Creates or updates the stream to its configuration. */
  ensureStream(jsm: JetStreamManager): Promise<unknown>;
  readonly headers: {
    readonly msgId: string;
    readonly position: string;
    readonly stream: string;
    readonly type: string;
    readonly committedAt: string;
    readonly traceparent: string;
  };
}

/**
 * Checks a mark against the event store: does it still hold that event at that position? Implemented by
 * `StoreContinuity` of @orderly/event-store-postgres. Undefined when it does; otherwise the one line that says what
 * differs and how to repair it. Throws when the store cannot be asked.
 */
export interface ContinuityCheck {
  diverges(
    mark: { readonly position: number; readonly eventId: string | undefined },
    what: string,
  ): Promise<string | undefined>;
}

/** Reads older payloads as their type's current version (docs/events.md); @orderly/eventsourcing's Upcasters fit. */
export interface PayloadUpcasters {
  needsUpcast(type: string, version: number): boolean;
  upcast(type: string, version: number, data: unknown): { version: number; data: unknown };
}

/** The part of a pino logger the relay uses. */
export interface RelayLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
