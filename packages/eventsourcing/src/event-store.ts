import type { Event, EventMetadata, Position, RecordedEvent } from "./event.js";
import type { ExpectedVersion } from "./expected-version.js";

/** The client's idempotency key and what identifies "the same request". */
export interface IdempotencyClaim {
  readonly key: string;
  /** Hex sha-256 of the RPC name and the request's canonical bytes. */
  readonly requestHash: string;
}

/** What an accepted command produced; stored under its idempotency key and returned to duplicates. */
export interface CommandOutcome {
  readonly commandId: string;
  readonly streamId: string;
  /** Stream version after the command. */
  readonly streamVersion: number;
  /** Position of the last event the command appended. */
  readonly position: Position;
  /** True when this is the stored outcome of an earlier request with the same key. */
  readonly duplicate: boolean;
}

export interface AppendRequest<E extends Event = Event> {
  readonly streamId: string;
  readonly expectedVersion: ExpectedVersion;
  /** At least one event; each with its own metadata (event ids are chosen by the caller). */
  readonly events: readonly { readonly event: E; readonly metadata: EventMetadata }[];
  /** When present, recorded in the same transaction; a reused key returns the stored outcome or throws. */
  readonly idempotency?: IdempotencyClaim | undefined;
}

export interface ReadStreamResult<E extends Event = Event> {
  /** Current version, 0 when the stream does not exist. */
  readonly version: number;
  readonly events: readonly RecordedEvent<E>[];
}

/**
 * The event store. Appends are atomic per request: events, stream version, idempotency record and outbox in one
 * transaction. Throws VersionConflictError (expected version mismatch) and IdempotencyKeyReusedError (same key,
 * different request hash); a same-key same-hash append returns the stored outcome with `duplicate: true`.
 */
export interface EventStore {
  append<E extends Event>(request: AppendRequest<E>): Promise<CommandOutcome>;
  readStream<E extends Event>(streamId: string): Promise<ReadStreamResult<E>>;
  /** Events with position > `after`, in position order, at most `limit`. */
  readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]>;
  /** The stored outcome for an idempotency key, if any. */
  findCommand(key: string): Promise<(CommandOutcome & { readonly requestHash: string }) | undefined>;
  /** Position of the last committed event (0 when empty). */
  headPosition(): Promise<Position>;
}
