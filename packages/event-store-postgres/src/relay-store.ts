import type { StoredEventColumns } from "@orderly/eventsourcing";
import pg from "pg";
import { COMMITS_CHANNEL } from "./event-feed.js";
import { relayLockName } from "./relay-fence.js";
import { epochMsSql, STORED_EVENT_COLUMNS, TEXT_COLUMNS } from "./stored-event-columns.js";

// The outbox relay's statements on the store's tables: the tail read, its leader lock, its checkpoint row and the
// LISTEN wake-up. Shaped by the ports `@orderly/outbox-relay` declares (`RelayStore`, `RelaySession`), which these
// classes satisfy structurally (the store does not depend on the relay).

const POSITION = 0;
const EVENT_ID = 1;

// Timestamps as whole epoch milliseconds, rounded down (stored-event-columns.ts). The first part returns the event at
// the cursor (position and id only): every read also checks that the store still holds the event published last, for
// one more index probe and no payload.
const readTailSql = `select position, event_id, null, null, null, null, null, null, null, null, null, null, null, null
from events where position = $1 and $1 > 0
union all (select ${STORED_EVENT_COLUMNS} from events where position > $1 order by position limit $2)`;

const tryLockSql = `select pg_try_advisory_lock(hashtext($1)) as locked, (select last from global_position) as head,
  c.position as checkpoint, ${epochMsSql("e.committed_at")}::float8 as next_committed_ms
from (select 1) one
left join relay_checkpoints c on c.name = $2
left join events e on e.position = coalesce(c.position, 0) + 1`;

const writeCheckpointSql = `insert into relay_checkpoints (name, position, event_id, updated_at) values ($1, $2, $3, now())
on conflict (name) do update set position = excluded.position, event_id = excluded.event_id, updated_at = now()
where relay_checkpoints.position <= excluded.position`;

/** The outbox relay's access to the store (`RelayStore` of @orderly/outbox-relay). */
export class PostgresRelayStore {
  constructor(private readonly databaseUrl: string) {}

  async openSession(options: {
    readonly name: string;
    readonly onLost: (error: Error) => void;
  }): Promise<PostgresRelaySession> {
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      keepAlive: true,
      application_name: options.name,
      // A server that stops answering (not closing) must not hang the relay: the session ends and is retried.
      query_timeout: 30_000,
    });
    client.on("error", options.onLost);
    try {
      await client.connect();
      // The checkpoint is a hint, not the truth (the stream's last message is): losing its last updates in a Postgres
      // crash costs nothing, so they need not wait for a WAL flush.
      await client.query("set synchronous_commit = off");
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return new PostgresRelaySession(client, options.name, relayLockName(options.name));
  }

  async listen(options: {
    readonly applicationName: string;
    readonly onCommit: (head: number) => void;
    readonly onError: (error: Error) => void;
  }): Promise<{ close(): Promise<void> }> {
    const listener = new pg.Client({
      connectionString: this.databaseUrl,
      keepAlive: true,
      application_name: options.applicationName,
    });
    listener.on("notification", (message) => options.onCommit(Number(message.payload)));
    listener.on("error", (error) => {
      listener.end().catch(() => undefined);
      options.onError(error);
    });
    try {
      await listener.connect();
      await listener.query(`listen ${COMMITS_CHANNEL}`);
    } catch (error) {
      await listener.end().catch(() => undefined);
      throw error;
    }
    return { close: () => listener.end().catch(() => undefined) };
  }
}

/** One relay connection (`RelaySession` of @orderly/outbox-relay). */
export class PostgresRelaySession {
  constructor(
    private readonly client: pg.Client,
    private readonly name: string,
    private readonly lockKey: string,
  ) {}

  async tryLock(): Promise<
    { locked: true } | { locked: false; lagEvents: number; oldestPendingMs: number | undefined }
  > {
    const result = await this.client.query<{
      locked: boolean;
      head: string | null;
      checkpoint: string | null;
      next_committed_ms: number | null;
    }>(tryLockSql, [this.lockKey, this.name]);
    const row = result.rows[0];
    if (row?.locked) return { locked: true };
    return {
      locked: false,
      lagEvents: Math.max(0, Number(row?.head ?? 0) - Number(row?.checkpoint ?? 0)),
      oldestPendingMs: row?.next_committed_ms ?? undefined,
    };
  }

  async unlock(): Promise<void> {
    await this.client.query("select pg_advisory_unlock(hashtext($1))", [this.lockKey]);
  }

  async readCheckpoint(): Promise<{ position: number; eventId: string | undefined }> {
    await this.client.query(
      "insert into relay_checkpoints (name, position) values ($1, 0) on conflict (name) do nothing",
      [this.name],
    );
    const stored = await this.client.query<{ position: string; event_id: string | null }>(
      "select position, event_id from relay_checkpoints where name = $1",
      [this.name],
    );
    return { position: Number(stored.rows[0]?.position ?? 0), eventId: stored.rows[0]?.event_id ?? undefined };
  }

  async writeCheckpoint(position: number, eventId: string | undefined): Promise<void> {
    await this.client.query({
      name: "outbox_relay_checkpoint",
      text: writeCheckpointSql,
      values: [this.name, position, eventId ?? null],
    });
  }

  async headAfter(position: number): Promise<{ head: number; nextCommittedMs: number | undefined }> {
    const result = await this.client.query<{ last: string; next_committed_ms: number | null }>(
      `select g.last, ${epochMsSql("e.committed_at")}::float8 as next_committed_ms
       from global_position g left join events e on e.position = $1 + 1`,
      [position],
    );
    return {
      head: Number(result.rows[0]?.last ?? 0),
      nextCommittedMs: result.rows[0]?.next_committed_ms ?? undefined,
    };
  }

  async read(
    after: number,
    limit: number,
  ): Promise<{ eventIdAtCursor: string | undefined; rows: StoredEventColumns[] }> {
    const result = await this.client.query({
      name: "outbox_relay_read",
      text: readTailSql,
      values: [after, limit],
      rowMode: "array",
      types: TEXT_COLUMNS,
    });
    const rows = result.rows as unknown as StoredEventColumns[];
    const first = rows[0];
    if (first === undefined || first[POSITION] !== String(after)) return { eventIdAtCursor: undefined, rows };
    rows.shift();
    return { eventIdAtCursor: first[EVENT_ID], rows };
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
