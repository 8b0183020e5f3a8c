import {
  emptyStoredEventText,
  noUpcasters,
  readStoredEventColumns,
  type StoredEventColumns,
  type StoredEventText,
  UnavailableError,
  type Upcasters,
} from "@orderly/eventsourcing";
import { backoffDelay } from "@orderly/retry";
import pg from "pg";
import { mapDatabaseError } from "./statement-runner.js";
import { STORED_EVENT_COLUMNS, TEXT_COLUMNS } from "./stored-event-columns.js";

/**
 * Reading the whole event log in position order, for consumers outside the pipeline (the query service's
 * EventService). Positions are gapless and commit-ordered (ADR 0003: the global_position row lock is held until
 * commit), so "position > cursor" read again and again never skips a late commit and never repeats one.
 */

export interface EventFeedPage {
  /** The events after the cursor, in position order. */
  readonly events: readonly StoredEventText[];
  /**
   * How far the log was read: the last event's position when the page is full, else the head position in the same
   * snapshot (every event up to it was read, or did not match the type filter). Never less than the cursor.
   */
  readonly readTo: number;
  /** The head position in the same snapshot: less than the cursor only when the store went back (a restore). */
  readonly head: number;
  /**
   * The id of the event at the cursor (`after`) in the same snapshot; undefined when the store holds none there
   * (cursor 0, a position a recovery retired, or a store that went back). A reader that remembers the id of the event
   * it took last compares it: a different one means another timeline reuses the positions (ADR 0010).
   */
  readonly cursorEventId: string | undefined;
}

// One statement, one snapshot: the head row and the page agree. The head row is told apart by its null event id.
const HEAD_ROW = `select last, null, null, null, null, null, null, null, null, null, null, null, null, null
  from global_position where id = 1`;
// The event at the cursor, told apart by its null stream id (one primary-key probe, no payload): the mark check.
const CURSOR_ROW = `select position, event_id, null, null, null, null, null, null, null, null, null, null, null, null
  from events where position = $1`;
// (The page's branch comes before the cursor's: its column types settle the union's.)
const READ_ALL_SQL = `${HEAD_ROW} union all
  (select ${STORED_EVENT_COLUMNS} from events where position > $1 order by position limit $2) union all ${CURSOR_ROW}`;
const READ_TYPES_SQL = `${HEAD_ROW} union all
  (select ${STORED_EVENT_COLUMNS} from events where position > $1 and event_type = any($3::text[]) order by position limit $2)
  union all ${CURSOR_ROW}`;

export interface PostgresEventFeedOptions {
  /** Bound of one read, from asking for a connection to the last row (default 5000 ms); past it UnavailableError. */
  readonly statementTimeoutMs?: number;
  /** Older payloads are upcast to their type's current version (docs/events.md). Default: none registered. */
  readonly upcasters?: Upcasters;
}

/** Pages of the event log, over a pool the caller owns. */
export class PostgresEventFeed {
  readonly #pool: pg.Pool;
  readonly #timeoutMs: number;
  readonly #upcasters: Upcasters;

  constructor(pool: pg.Pool, options: PostgresEventFeedOptions = {}) {
    this.#pool = pool;
    this.#timeoutMs = options.statementTimeoutMs ?? 5_000;
    this.#upcasters = options.upcasters ?? noUpcasters;
  }

  /**
   * At most `limit` events with position > `after`, in position order; only `types` when given (non-empty).
   * Throws UnavailableError when the store cannot be read in time.
   */
  async read(after: number, limit: number, types?: readonly string[]): Promise<EventFeedPage> {
    if (!Number.isSafeInteger(after) || after < 0) throw new RangeError(`after must be >= 0, got ${after}`);
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be >= 1, got ${limit}`);
    const filtered = types !== undefined && types.length > 0;
    let result: pg.QueryResult;
    try {
      result = await this.#pool.query({
        name: filtered ? "orderly_event_log_read_types_v2" : "orderly_event_log_read_v2",
        text: filtered ? READ_TYPES_SQL : READ_ALL_SQL,
        values: filtered ? [after, limit, types] : [after, limit],
        rowMode: "array",
        types: TEXT_COLUMNS,
        query_timeout: this.#timeoutMs,
      } as pg.QueryConfig);
    } catch (error) {
      throw mapDatabaseError(error);
    }
    const rows = result.rows as StoredEventColumns[];
    let head = 0;
    let cursorEventId: string | undefined;
    const events: StoredEventText[] = [];
    for (const r of rows) {
      if (r[1] === null) head = Number(r[0]);
      else if (r[2] === null) cursorEventId = r[1];
      else events.push(readStoredEventColumns(r, emptyStoredEventText(), this.#upcasters));
    }
    const last = events.at(-1);
    const readTo = events.length === limit && last !== undefined ? Number(last.position) : Math.max(after, head);
    return { events, readTo, head, cursorEventId };
  }

  /** The position of the last committed event (0 when none). */
  async head(): Promise<number> {
    try {
      const result = await this.#pool.query<{ last: string }>({
        text: "select last::text from global_position where id = 1",
        query_timeout: this.#timeoutMs,
      } as pg.QueryConfig);
      return Number(result.rows[0]?.last ?? 0);
    } catch (error) {
      throw mapDatabaseError(error);
    }
  }
}

/** The channel on which every append transaction announces its last position (migrations 0002/0003). */
export const COMMITS_CHANNEL = "orderly_events";

export interface CommitNotificationsOptions {
  readonly connectionString: string;
  /** Called with the last committed position each commit announces, and after every (re)connect with the head. */
  readonly onCommit: (head: number) => void;
  /** Called when the connection is lost (it reconnects by itself) or a reconnect fails. */
  readonly onError?: (error: unknown) => void;
  readonly applicationName?: string;
}

/**
 * One connection that LISTENs for the store's commits. Notifications are only a wake-up: while the connection is
 * down (it reconnects with backoff) they are lost, so after each connect it reads the head once, and readers should
 * also poll now and then.
 */
export class CommitNotifications {
  #client: pg.Client | undefined;
  #connected = false;
  #closed = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;

  constructor(private readonly options: CommitNotificationsOptions) {}

  get connected(): boolean {
    return this.#connected;
  }

  /** Connects and LISTENs; throws when the first attempt fails. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = undefined;
    this.#connected = false;
    if (client) await client.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: this.options.applicationName ?? "orderly commits listener",
      keepAlive: true,
    });
    client.on("notification", (message) => {
      if (message.channel !== COMMITS_CHANNEL || message.payload === undefined) return;
      const head = Number(message.payload);
      if (Number.isSafeInteger(head)) this.options.onCommit(head);
    });
    client.on("error", (error) => this.#lost(client, error));
    client.on("end", () => this.#lost(client, new UnavailableError("commit notification connection ended")));
    let head: number;
    try {
      await client.connect();
      await client.query(`LISTEN ${COMMITS_CHANNEL}`);
      const result = await client.query<{ last: string }>("select last::text from global_position where id = 1");
      head = Number(result.rows[0]?.last ?? 0);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#connected = true;
    this.#attempt = 0;
    this.options.onCommit(head);
  }

  #lost(client: pg.Client, error: unknown): void {
    if (this.#client !== client || this.#closed) return;
    this.#client = undefined;
    this.#connected = false;
    this.options.onError?.(error);
    client.removeAllListeners("notification");
    void client.end().catch(() => {});
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer) return;
    const delay = backoffDelay(this.#attempt++, { baseMs: 100, maxMs: 2_000, jitter: "none" });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect().catch((error: unknown) => {
        this.options.onError?.(error);
        this.#scheduleReconnect();
      });
    }, delay);
  }
}
