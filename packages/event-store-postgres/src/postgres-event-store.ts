import {
  type AppendRequest,
  type CommandOutcome,
  type Event,
  type EventStore,
  IdempotencyKeyReusedError,
  noUpcasters,
  type Position,
  type ReadStreamResult,
  type RecordedEvent,
  ResourceExhaustedError,
  UnavailableError,
  type Upcasters,
  VersionConflictError,
  validateAppendRequest,
} from "@orderly/eventsourcing";
import { backendProcessId } from "@orderly/library-internals/pg";
import pg from "pg";
import { arrayLiteral, integerElement, NULL_ELEMENT, quotedElement, timestampElement } from "./array-literals.js";
import { postgresErrorKind, QUERY_TIMEOUT_MESSAGE } from "./postgres-errors.js";

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

interface PendingAppend {
  readonly request: AppendRequest;
  /**
   * The events' data (JSON) and occurred-at, as array literal elements, made when the append was called: a value that
   * cannot be serialised fails only its own caller, not the batch.
   */
  readonly data: readonly string[];
  readonly occurredAt: readonly string[];
  readonly resolve: (outcome: CommandOutcome) => void;
  readonly reject: (error: unknown) => void;
}

interface AppendRow {
  r_status: number;
  r_stream_version: number | null;
  r_position: number | null;
  r_command_id: string | null;
  r_stream_id: string | null;
}

interface EventRow {
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

const APPEND_SQL =
  "select * from orderly_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
const EVENT_COLUMNS =
  "position, event_id, stream_id, stream_version, event_type, data, command_id, correlation_id, causation_id, traceparent, actor, schema_version, occurred_at, committed_at";

/** What pg's client-side `query_timeout` rejects with. */

const STATUS_APPENDED = 0;
const STATUS_DUPLICATE = 1;
const STATUS_KEY_REUSED = 2;
const STATUS_CONFLICT = 3;

/**
 * The Postgres event store. Appends are group-committed: concurrent `append` calls queue up and a single writer
 * flushes them as one transaction — one call of the `orderly_append` function, one round trip — while the next
 * batch accumulates. Each command in a batch succeeds or fails on its own, exactly as if the batch ran serially.
 */
export class PostgresEventStore implements EventStore {
  readonly #pool: pg.Pool;
  readonly #maxBatchSize: number;
  readonly #lockTimeoutMs: number;
  readonly #maxQueuedAppends: number;
  readonly #statementTimeoutMs: number;
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
    this.#pool = pool;
    this.#maxBatchSize = options.maxBatchSize ?? 256;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 5000;
    this.#maxQueuedAppends = options.maxQueuedAppends ?? 10_000;
    this.#statementTimeoutMs = options.statementTimeoutMs ?? this.#lockTimeoutMs + 2000;
    if (!Number.isInteger(this.#statementTimeoutMs) || this.#statementTimeoutMs < 1)
      throw new Error("statementTimeoutMs must be >= 1");
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
    const result = await this.#query<EventRow>({
      name: "orderly_read_stream",
      text: `select ${EVENT_COLUMNS} from events where stream_id = $1 order by stream_version`,
      values: [streamId],
    });
    const events = result.rows.map((row) => toRecordedEvent<E>(row, this.#upcasters));
    return { version: events.at(-1)?.streamVersion ?? 0, events };
  }

  async readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    if (limit <= 0) return [];
    const result = await this.#query<EventRow>({
      name: "orderly_read_all",
      text: `select ${EVENT_COLUMNS} from events where position > $1 order by position limit $2`,
      values: [after, limit],
    });
    return result.rows.map((row) => toRecordedEvent(row, this.#upcasters));
  }

  async findCommand(key: string): Promise<(CommandOutcome & { readonly requestHash: string }) | undefined> {
    const result = await this.#query<{
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
    const result = await this.#query<{ last: number }>({
      name: "orderly_head_position",
      text: "select last from global_position where id = 1",
    });
    return result.rows[0]?.last ?? 0;
  }

  /**
   * Every statement of the store goes through here: outages and timeouts leave it as UnavailableError (see
   * `mapDatabaseError`), whether an append, a read or an idempotency look-up ran into them. Each statement is bounded
   * by `statementTimeoutMs`, waiting for a pooled connection included.
   */
  async #query<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    const deadline = Date.now() + this.#statementTimeoutMs;
    let client: pg.PoolClient;
    try {
      client = await this.#connect(deadline);
    } catch (error) {
      throw mapDatabaseError(error);
    }
    // pg's client-side timer: it fires even when the connection has gone silent, which a server-side timeout cannot.
    const timed: pg.QueryConfig & { query_timeout: number } = {
      ...config,
      query_timeout: Math.max(1, deadline - Date.now()),
    };
    // A checked-out client that loses its connection outside a query emits `error`: without a listener, a crash.
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost ??= error;
    };
    client.on("error", onError);
    const release = (error?: Error) => {
      client.release(error ?? lost ?? false);
      client.off("error", onError);
    };
    try {
      const result = await client.query<R>(timed);
      release();
      return result;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      if (failure.message === QUERY_TIMEOUT_MESSAGE) this.#abandon(client, () => release(failure));
      else release(failure);
      throw mapDatabaseError(lost ?? error);
    }
  }

  /** A pooled connection, or UnavailableError once `deadline` has passed (a full pool, a server that never answers). */
  #connect(deadline: number): Promise<pg.PoolClient> {
    return new Promise((resolve, reject) => {
      let late = false;
      const timer = setTimeout(
        () => {
          late = true;
          reject(new UnavailableError(`event store unavailable: no connection within ${this.#statementTimeoutMs} ms`));
        },
        Math.max(1, deadline - Date.now()),
      );
      this.#pool.connect().then(
        (client) => {
          clearTimeout(timer);
          if (late) client.release();
          else resolve(client);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /**
   * A statement ran out of time: ask Postgres (over a connection of its own) to cancel it, so that a statement that
   * is merely slow does not commit later or keep its locks, then discard its connection. Runs in the background.
   */
  #abandon(client: pg.PoolClient, release: () => void): void {
    const pid = backendProcessId(client);
    const cancel = async () => {
      if (pid === undefined) return;
      const canceller = new pg.Client({
        ...this.#pool.options,
        connectionTimeoutMillis: this.#statementTimeoutMs,
        query_timeout: this.#statementTimeoutMs,
      });
      canceller.on("error", () => {});
      try {
        await canceller.connect();
        await canceller.query("select pg_cancel_backend($1)", [pid]);
      } catch {
        // Postgres is unreachable as well: the connection is discarded all the same.
      } finally {
        await canceller.end().catch(() => {});
      }
    };
    void cancel().finally(release);
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
      // Already mapped by #query: an outage is UnavailableError, anything else as the database said it.
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
      result = await this.#query<AppendRow>({
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

function settle(pending: PendingAppend, row: AppendRow): void {
  const request = pending.request;
  switch (row.r_status) {
    case STATUS_APPENDED:
    case STATUS_DUPLICATE:
      pending.resolve({
        commandId: row.r_command_id as string,
        streamId: row.r_stream_id as string,
        streamVersion: row.r_stream_version as number,
        position: row.r_position as number,
        duplicate: row.r_status === STATUS_DUPLICATE,
      });
      return;
    case STATUS_KEY_REUSED:
      pending.reject(new IdempotencyKeyReusedError(request.idempotency?.key ?? ""));
      return;
    case STATUS_CONFLICT: {
      const actual = row.r_stream_version ?? 0;
      pending.reject(
        new VersionConflictError(request.streamId, request.expectedVersion, actual === 0 ? "no_stream" : actual),
      );
      return;
    }
    default:
      pending.reject(new Error(`orderly_append returned unknown status ${row.r_status}`));
  }
}

function toRecordedEvent<E extends Event>(row: EventRow, upcasters: Upcasters): RecordedEvent<E> {
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

function isDataError(error: unknown): boolean {
  return postgresErrorKind(error) === "data";
}

/**
 * Outages and timeouts become UnavailableError (safe to retry with the same idempotency key); every other error,
 * and an UnavailableError, is returned as it is.
 */
export function mapDatabaseError(error: unknown): unknown {
  if (error instanceof UnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  switch (postgresErrorKind(error)) {
    case "busy":
      return new UnavailableError(`event store busy: ${message}`);
    case "unavailable":
      return new UnavailableError(`event store unavailable: ${message}`);
    default:
      return error;
  }
}
