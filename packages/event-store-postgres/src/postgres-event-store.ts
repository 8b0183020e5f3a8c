import {
  type AppendRequest,
  type CommandOutcome,
  type Event,
  type EventStore,
  noUpcasters,
  type Position,
  type ReadStreamResult,
  type RecordedEvent,
  ResourceExhaustedError,
  UnavailableError,
  type Upcasters,
  validateAppendRequest,
} from "@orderly/eventsourcing";
import type pg from "pg";
import { APPEND_SQL, type AppendRow, type PendingAppend, settle } from "./append-rows.js";
import { arrayLiteral, integerElement, NULL_ELEMENT, quotedElement, timestampElement } from "./array-literals.js";
import { EVENT_COLUMNS, type EventRow, toRecordedEvent } from "./event-rows.js";
import { postgresErrorKind } from "./postgres-errors.js";
import { StatementRunner } from "./statement-runner.js";

export interface PostgresEventStoreOptions {
  /** Most commands flushed in one transaction (default 256). */
  readonly maxBatchSize?: number;
  /**
   * How long an append may wait for the global position row lock (default 5000 ms). A transaction that holds the
   * counter longer blocks every appender (head-of-line blocking, see ADR 0003); after this the batch fails with
   * UnavailableError instead of queueing forever.
   */
  readonly lockTimeoutMs?: number;
  /** Most appends waiting for a batch (default 10,000); beyond it `append` fails fast with ResourceExhaustedError. */
  readonly maxQueuedAppends?: number;
  /**
   * How long one statement of the store may take, from asking the pool for a connection to the last row (default
   * lockTimeoutMs + 2000 ms). A hung connection or a stalled server must not stall the group-commit writer: past it
   * the statement fails with UnavailableError, Postgres is asked to cancel it, and its connection is discarded.
   */
  readonly statementTimeoutMs?: number;
  /**
   * Batches sent to Postgres at once (default 1). The counter row still serialises them inside Postgres; a second
   * batch already waiting on the lock starts the moment the first commits, instead of one Node round trip later.
   * Measured on the 2-core machine (command bench, quiet): 2 gains ~5% at the maximum rate but doubles p50 at half of
   * it (smaller batches, each waiting on the other's commit), so 1 is the default.
   */
  readonly maxConcurrentBatches?: number;
  /**
   * Called after every append transaction (one group commit), committed or not, with how many commands it carried
   * and its round trip in seconds (from sending it to its last row): what an operator needs to tell a slow database
   * from a slow service.
   */
  readonly onBatch?: (commands: number, seconds: number) => void;
  /**
   * The schema versions of event payloads (docs/events.md): appends record each event's current version, reads upcast
   * older payloads to it. Default: none registered, every type at version 1.
   */
  readonly upcasters?: Upcasters;
  /**
   * For tracing (issue 16): called after every group commit with each command's traceparent (its first event's),
   * when the transaction was sent (epoch ms) and whether it failed. Unset: no per-batch work.
   */
  readonly traceBatch?: (traceparents: readonly (string | undefined)[], startedAt: number, failed: boolean) => void;
}

/** Statistics of the group-commit writer, for metrics and benchmarks. */
export interface AppendStats {
  readonly batches: number;
  readonly commands: number;
  readonly largestBatch: number;
}

/**
 * The Postgres event store. Appends are group-committed: concurrent `append` calls queue up and a single writer
 * flushes them as one transaction — one call of the `orderly_append` function, one round trip — while the next
 * batch accumulates. Each command in a batch succeeds or fails on its own, exactly as if the batch ran serially.
 */
export class PostgresEventStore implements EventStore {
  readonly #statements: StatementRunner;
  readonly #maxBatchSize: number;
  readonly #lockTimeoutMs: number;
  readonly #maxQueuedAppends: number;
  readonly #maxConcurrentBatches: number;
  readonly #onBatch: ((commands: number, seconds: number) => void) | undefined;
  readonly #upcasters: Upcasters;
  readonly #traceBatch: PostgresEventStoreOptions["traceBatch"];
  #queue: PendingAppend[] = [];
  #scheduled = false;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  #closed = false;
  #stats = { batches: 0, commands: 0, largestBatch: 0 };

  constructor(pool: pg.Pool, options: PostgresEventStoreOptions = {}) {
    this.#maxBatchSize = options.maxBatchSize ?? 256;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 5000;
    this.#maxQueuedAppends = options.maxQueuedAppends ?? 10_000;
    const statementTimeoutMs = options.statementTimeoutMs ?? this.#lockTimeoutMs + 2000;
    if (!Number.isInteger(statementTimeoutMs) || statementTimeoutMs < 1)
      throw new Error("statementTimeoutMs must be >= 1");
    this.#statements = new StatementRunner(pool, statementTimeoutMs);
    this.#maxConcurrentBatches = options.maxConcurrentBatches ?? 1;
    this.#onBatch = options.onBatch;
    this.#upcasters = options.upcasters ?? noUpcasters;
    this.#traceBatch = options.traceBatch;
    if (!Number.isInteger(this.#maxConcurrentBatches) || this.#maxConcurrentBatches < 1)
      throw new Error("maxConcurrentBatches must be >= 1");
    if (!Number.isInteger(this.#maxBatchSize) || this.#maxBatchSize < 1) throw new Error("maxBatchSize must be >= 1");
  }

  get stats(): AppendStats {
    return { ...this.#stats };
  }

  append<E extends Event>(request: AppendRequest<E>): Promise<CommandOutcome> {
    if (this.#closed) return Promise.reject(new UnavailableError("event store is closed"));
    if (this.#queue.length >= this.#maxQueuedAppends)
      return Promise.reject(new ResourceExhaustedError(`${this.#queue.length} appends are already waiting`));
    const data: string[] = [];
    const occurredAt: string[] = [];
    try {
      validateAppendRequest(request);
      for (const { event, metadata } of request.events) {
        data.push(quotedElement(JSON.stringify(event.data ?? null)));
        occurredAt.push(timestampElement(metadata.occurredAt));
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<CommandOutcome>((resolve, reject) => {
      this.#queue.push({ request, data, occurredAt, resolve, reject });
      // Start on the next turn of the event loop, so that appends arriving in the same I/O phase share a batch.
      if (!this.#scheduled && this.#inFlight < this.#maxConcurrentBatches) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#pump();
        });
      }
    });
  }

  /** Stops accepting appends and waits until every queued append has been flushed. Does not end the pool. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#inFlight === 0 && this.#queue.length === 0 && !this.#scheduled) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  async readStream<E extends Event>(streamId: string): Promise<ReadStreamResult<E>> {
    const result = await this.#statements.query<EventRow>({
      name: "orderly_read_stream",
      text: `select ${EVENT_COLUMNS} from events where stream_id = $1 order by stream_version`,
      values: [streamId],
    });
    const events = result.rows.map((row) => toRecordedEvent<E>(row, this.#upcasters));
    return { version: events.at(-1)?.streamVersion ?? 0, events };
  }

  async readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    if (limit <= 0) return [];
    const result = await this.#statements.query<EventRow>({
      name: "orderly_read_all",
      text: `select ${EVENT_COLUMNS} from events where position > $1 order by position limit $2`,
      values: [after, limit],
    });
    return result.rows.map((row) => toRecordedEvent(row, this.#upcasters));
  }

  async findCommand(key: string): Promise<(CommandOutcome & { readonly requestHash: string }) | undefined> {
    const result = await this.#statements.query<{
      command_id: string;
      stream_id: string;
      stream_version: number;
      position: number;
      request_hash: string;
    }>({
      name: "orderly_find_command",
      text: "select command_id, stream_id, stream_version, position, encode(request_hash, 'hex') as request_hash from processed_commands where idempotency_key = $1",
      values: [key],
    });
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return {
      commandId: row.command_id,
      streamId: row.stream_id,
      streamVersion: row.stream_version,
      position: row.position,
      // What a repeat of the request receives.
      duplicate: true,
      requestHash: row.request_hash,
    };
  }

  async headPosition(): Promise<Position> {
    const result = await this.#statements.query<{ last: number }>({
      name: "orderly_head_position",
      text: "select last from global_position where id = 1",
    });
    return result.rows[0]?.last ?? 0;
  }

  /** Sends queued appends as batches while fewer than `maxConcurrentBatches` are in flight. */
  #pump(): void {
    while (this.#inFlight < this.#maxConcurrentBatches && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatchSize);
      this.#inFlight++;
      this.#flush(batch)
        .catch((error: unknown) => {
          // Only a bug gets here; the batch's callers must still hear about it.
          for (const pending of batch) pending.reject(error);
        })
        .finally(() => {
          this.#inFlight--;
          if (this.#queue.length > 0) this.#pump();
          else if (this.#inFlight === 0 && !this.#scheduled) for (const done of this.#idle.splice(0)) done();
        });
    }
  }

  async #flush(batch: PendingAppend[]): Promise<void> {
    let rows: AppendRow[];
    try {
      rows = await this.#execute(batch);
    } catch (error) {
      if (batch.length > 1 && isDataError(error)) {
        // One command's bad data (a reused event id, say) must not fail the others: retry them one by one.
        for (const pending of batch) await this.#flush([pending]);
        return;
      }
      // Already mapped by StatementRunner.query: an outage is UnavailableError, anything else as the database said it.
      for (const pending of batch) pending.reject(error);
      return;
    }
    this.#stats.batches++;
    this.#stats.commands += batch.length;
    if (batch.length > this.#stats.largestBatch) this.#stats.largestBatch = batch.length;
    batch.forEach((pending, index) => {
      const row = rows[index];
      if (row === undefined) {
        pending.reject(new Error(`orderly_append returned ${rows.length} rows for ${batch.length} commands`));
        return;
      }
      settle(pending, row);
    });
  }

  /**
   * One call of `orderly_append` for the batch: its 15 arrays (per command, then per event) as array literals built
   * in one pass (see array-literals.ts).
   */
  async #execute(batch: PendingAppend[]): Promise<AppendRow[]> {
    let streamIds = "";
    let expected = "";
    let keys = "";
    let hashes = "";
    let counts = "";
    let eventIds = "";
    let types = "";
    let data = "";
    let commandIds = "";
    let correlationIds = "";
    let causationIds = "";
    let traceparents = "";
    let occurredAt = "";
    let actors = "";
    let schemaVersions = "";
    let eventSep = "";
    for (let i = 0; i < batch.length; i++) {
      const pending = batch[i] as PendingAppend;
      const request = pending.request;
      const sep = i === 0 ? "" : ",";
      streamIds += sep + quotedElement(request.streamId);
      const version = request.expectedVersion;
      expected += sep + (version === "any" ? NULL_ELEMENT : version === "no_stream" ? "0" : integerElement(version));
      const claim = request.idempotency;
      keys += sep + (claim ? quotedElement(claim.key) : NULL_ELEMENT);
      hashes += sep + (claim ? quotedElement(claim.requestHash) : NULL_ELEMENT);
      counts += sep + request.events.length;
      for (let e = 0; e < request.events.length; e++) {
        const { event, metadata } = request.events[e] as AppendRequest["events"][number];
        eventIds += eventSep + quotedElement(metadata.eventId);
        types += eventSep + quotedElement(event.type);
        data += eventSep + pending.data[e];
        commandIds += eventSep + quotedElement(metadata.commandId);
        correlationIds += eventSep + quotedElement(metadata.correlationId);
        causationIds += eventSep + quotedElement(metadata.causationId);
        const traceparent = metadata.traceparent;
        traceparents += eventSep + (typeof traceparent === "string" ? quotedElement(traceparent) : NULL_ELEMENT);
        occurredAt += eventSep + pending.occurredAt[e];
        const actor = metadata.actor;
        actors += eventSep + (typeof actor === "string" && actor !== "" ? quotedElement(actor) : NULL_ELEMENT);
        schemaVersions += eventSep + this.#upcasters.currentVersion(event.type);
        eventSep = ",";
      }
    }
    const columns = [
      streamIds,
      expected,
      keys,
      hashes,
      counts,
      eventIds,
      types,
      data,
      commandIds,
      correlationIds,
      causationIds,
      traceparents,
      occurredAt,
      actors,
      schemaVersions,
    ];
    const started = performance.now();
    const startedAt = this.#traceBatch === undefined ? 0 : Date.now();
    let result: pg.QueryResult<AppendRow> | undefined;
    try {
      result = await this.#statements.query<AppendRow>({
        name: "orderly_append",
        text: APPEND_SQL,
        values: [...columns.map(arrayLiteral), this.#lockTimeoutMs],
      });
    } finally {
      this.#onBatch?.(batch.length, (performance.now() - started) / 1000);
      this.#traceBatch?.(
        batch.map((pending) => pending.request.events[0]?.metadata.traceparent ?? undefined),
        startedAt,
        result === undefined,
      );
    }
    return result.rows;
  }
}

function isDataError(error: unknown): boolean {
  return postgresErrorKind(error) === "data";
}
