import { UnavailableError } from "@orderly/eventsourcing";
import { backendProcessId } from "@orderly/library-internals/pg";
import pg from "pg";
import { postgresErrorKind, QUERY_TIMEOUT_MESSAGE } from "./postgres-errors.js";

/**
 * The event store's way to the database: each statement on a pooled connection within its deadline (the store's
 * `statementTimeoutMs`); one that runs out of time is cancelled in Postgres and its connection discarded.
 */
export class StatementRunner {
  readonly #pool: pg.Pool;
  readonly #statementTimeoutMs: number;

  constructor(pool: pg.Pool, statementTimeoutMs: number) {
    this.#pool = pool;
    this.#statementTimeoutMs = statementTimeoutMs;
  }

  /**
   * Every statement of the store goes through here: outages and timeouts leave it as UnavailableError (see
   * `mapDatabaseError`), whether an append, a read or an idempotency look-up ran into them. Each statement is bounded
   * by `statementTimeoutMs`, waiting for a pooled connection included.
   */
  async query<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
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
