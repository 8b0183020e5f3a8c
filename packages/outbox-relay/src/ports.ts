// The ports the relay declares. Postgres's side (tail read, leader lock, checkpoint row, LISTEN) is implemented by
// `PostgresRelayStore` of @orderly/event-store-postgres, the only package that touches the store's tables; the bus by
// `ordersBus()` of @orderly/event-bus; the continuity check by `StoreContinuity`. Services wire them in `main`.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { StoredEventColumns, StoredEventText } from "@orderly/eventsourcing";

/** A page of the tail after a position. */
export interface OutboxPage {
  /**
   * The id of the event the store holds at the position read after (checked on the same read: one index probe, no
   * payload); undefined when it holds none there (or the position is 0).
   */
  readonly eventIdAtCursor: string | undefined;
  /** At most the limit asked, in position order. */
  readonly rows: StoredEventColumns[];
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

/** What the relay needs to know about the bus; `@orderly/event-bus`'s `ordersBus(namespace)` provides it. */
export interface RelayBus {
  /** JetStream stream the events go to. */
  readonly stream: string;
  subject(eventType: string): string;
  /**
   * The message body of a stored event (the relay reads the tail as `StoredEventColumns` of @orderly/eventsourcing,
   * in Postgres's text form, and encodes straight from it: no RecordedEvent, no Date per event). `stored` is filled
   * in place for the next row: read it during the call only.
   * The returned bytes must not change afterwards (nats.js copies them at its next flush).
   */
  encodeStored(stored: StoredEventText): Uint8Array;
  /** Creates or updates the stream to its configuration. */
  ensureStream(jsm: JetStreamManager): Promise<unknown>;
  readonly headers: EventHeaderNames;
}

/** Header names of the relay's messages (the bus's `headers`). */
export interface EventHeaderNames {
  readonly msgId: string;
  readonly position: string;
  readonly stream: string;
  readonly type: string;
  readonly committedAt: string;
  readonly traceparent: string;
}

/**
 * Checks a mark against the event store: does it still hold that event at that position? Implemented by
 * `StoreContinuity` of @orderly/event-store-postgres. Undefined when it does; otherwise the one line that says what
 * differs and how to repair it. Throws when the store cannot be asked.
 */
export interface ContinuityCheck {
  /** `mark` has a checkpoint's shape: a position and the id of the event there. */
  diverges(mark: RelayCheckpoint, what: string): Promise<string | undefined>;
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
