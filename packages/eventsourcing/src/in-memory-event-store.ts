import { IdempotencyKeyReusedError, ValidationError, VersionConflictError } from "./errors.js";
import type { Event, Position, RecordedEvent } from "./event.js";
import type { AppendRequest, CommandOutcome, EventStore, ReadStreamResult } from "./event-store.js";
import { isUuid } from "./uuid.js";

type StoredCommand = Omit<CommandOutcome, "duplicate"> & { readonly requestHash: string };

export interface InMemoryEventStoreOptions {
  /** The commit clock (`committedAt`); defaults to the wall clock. */
  readonly clock?: () => Date;
}

/**
 * The event store in memory, with the semantics of the Postgres store: per-request atomic appends, gapless
 * positions and versions from 1, expected versions, idempotency keys recorded only for accepted commands. Event data
 * goes through JSON like it does through `jsonb`. For tests and for running a decider without a database.
 */
export class InMemoryEventStore implements EventStore {
  readonly #log: RecordedEvent[] = [];
  readonly #streams = new Map<string, RecordedEvent[]>();
  readonly #commands = new Map<string, StoredCommand>();
  readonly #eventIds = new Set<string>();
  readonly #clock: () => Date;

  constructor(options: InMemoryEventStoreOptions = {}) {
    this.#clock = options.clock ?? (() => new Date());
  }

  async append<E extends Event>(request: AppendRequest<E>): Promise<CommandOutcome> {
    validateAppendRequest(request);
    const claim = request.idempotency;
    if (claim !== undefined) {
      const stored = this.#commands.get(claim.key);
      if (stored !== undefined) {
        if (stored.requestHash.toLowerCase() !== claim.requestHash.toLowerCase())
          throw new IdempotencyKeyReusedError(claim.key);
        return outcomeOf(stored, true);
      }
    }
    const stream = this.#streams.get(request.streamId);
    const current = stream?.length ?? 0;
    const expected = request.expectedVersion;
    if (expected !== "any" && (expected === "no_stream" ? current !== 0 : expected !== current))
      throw new VersionConflictError(request.streamId, expected, current === 0 ? "no_stream" : current);

    for (const { metadata } of request.events) {
      // The Postgres store's unique constraint: an event id is never stored twice.
      if (this.#eventIds.has(metadata.eventId.toLowerCase()))
        throw new Error(`event id ${metadata.eventId} is already in the store`);
    }
    const committedAt = this.#clock();
    const recorded = request.events.map(
      ({ event, metadata }, index): RecordedEvent => ({
        type: event.type,
        data: JSON.parse(JSON.stringify(event.data ?? null)),
        streamId: request.streamId,
        streamVersion: current + index + 1,
        position: this.#log.length + index + 1,
        metadata: {
          eventId: metadata.eventId,
          commandId: metadata.commandId,
          correlationId: metadata.correlationId,
          causationId: metadata.causationId,
          occurredAt: new Date(metadata.occurredAt.getTime()),
          traceparent: metadata.traceparent ?? undefined,
          actor: metadata.actor || undefined,
        },
        committedAt,
      }),
    );
    const last = recorded.at(-1) as RecordedEvent;
    this.#log.push(...recorded);
    for (const event of recorded) this.#eventIds.add(event.metadata.eventId.toLowerCase());
    if (stream === undefined) this.#streams.set(request.streamId, recorded);
    else stream.push(...recorded);
    const stored: StoredCommand = {
      commandId: (request.events[0] as AppendRequest["events"][number]).metadata.commandId,
      streamId: request.streamId,
      streamVersion: last.streamVersion,
      position: last.position,
      requestHash: claim?.requestHash.toLowerCase() ?? "",
    };
    if (claim !== undefined) this.#commands.set(claim.key, stored);
    return outcomeOf(stored, false);
  }

  async readStream<E extends Event>(streamId: string): Promise<ReadStreamResult<E>> {
    const events = (this.#streams.get(streamId) ?? []) as RecordedEvent<E>[];
    return { version: events.length, events: events.map(copy) };
  }

  async readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    if (limit <= 0) return [];
    const start = Math.max(0, Math.floor(after));
    return this.#log.slice(start, start + limit).map(copy);
  }

  async findCommand(key: string): Promise<(CommandOutcome & { readonly requestHash: string }) | undefined> {
    const stored = this.#commands.get(key);
    return stored === undefined ? undefined : { ...outcomeOf(stored, true), requestHash: stored.requestHash };
  }

  async headPosition(): Promise<Position> {
    return this.#log.length;
  }
}

function outcomeOf(stored: StoredCommand, duplicate: boolean): CommandOutcome {
  return {
    commandId: stored.commandId,
    streamId: stored.streamId,
    streamVersion: stored.streamVersion,
    position: stored.position,
    duplicate,
  };
}

function copy<E extends Event>(event: RecordedEvent<E>): RecordedEvent<E> {
  return { ...event, data: JSON.parse(JSON.stringify(event.data)), metadata: { ...event.metadata } };
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** The checks every EventStore makes before an append (callers' bugs, reported as ValidationError). */
export function validateAppendRequest(request: AppendRequest): void {
  if (typeof request.streamId !== "string" || request.streamId.length === 0)
    throw new ValidationError("stream_id", "must not be empty");
  if (request.events.length === 0) throw new ValidationError("events", "an append needs at least one event");
  const expected = request.expectedVersion;
  if (typeof expected === "number" && !(Number.isSafeInteger(expected) && expected >= 1))
    throw new ValidationError("expected_version", "must be an integer >= 1, 'any' or 'no_stream'");
  if (typeof expected !== "number" && expected !== "any" && expected !== "no_stream")
    throw new ValidationError("expected_version", "must be an integer >= 1, 'any' or 'no_stream'");
  if (request.idempotency !== undefined) {
    if (request.idempotency.key.length === 0) throw new ValidationError("idempotency_key", "must not be empty");
    if (!HEX_SHA256.test(request.idempotency.requestHash))
      throw new ValidationError("request_hash", "must be a hex sha-256");
  }
  for (const { metadata } of request.events) {
    for (const field of ["eventId", "commandId", "correlationId", "causationId"] as const) {
      if (!isUuid(metadata[field])) throw new ValidationError(field, "must be a UUID");
    }
    const occurredAt: unknown = metadata.occurredAt;
    if (!(occurredAt instanceof Date) || Number.isNaN(occurredAt.getTime()))
      throw new ValidationError("occurred_at", "must be a valid date");
  }
}
