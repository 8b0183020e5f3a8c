import pg from "pg";

/** The advisory lock an active relay named `name` holds (its session's, see PostgresRelayStore: one active relay per name). */
export function relayLockName(name: string): string {
  return `orderly:${name}`;
}

export interface RelayFenceOptions {
  /** The relay's name (default `outbox-relay`). */
  readonly name?: string;
  /** Give up after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** Called when the session of an active relay is ended to take its lock. */
  readonly onTerminate?: (pid: number) => void;
}

/**
 * Holds the relay lock so that no relay publishes: recovery purges and republishes the stream behind it. An active
 * relay's session is ended (`pg_terminate_backend`): the relay treats it as a lost session, stands by until the fence
 * is released, then reconciles with the stream from scratch (its memory of the stream would be stale). The lock is a
 * session lock: a fence whose process dies releases it with its connection.
 */
export class RelayFence {
  private constructor(
    private readonly client: pg.Client,
    private readonly lock: string,
  ) {}

  static async acquire(databaseUrl: string, options: RelayFenceOptions = {}): Promise<RelayFence> {
    const lock = relayLockName(options.name ?? "outbox-relay");
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    const client = new pg.Client({ connectionString: databaseUrl, application_name: "orderly-recover-fence" });
    client.on("error", () => {});
    await client.connect();
    try {
      for (;;) {
        const got = await client.query<{ locked: boolean }>("select pg_try_advisory_lock(hashtext($1)) as locked", [
          lock,
        ]);
        if (got.rows[0]?.locked) return new RelayFence(client, lock);
        if (Date.now() > deadline) throw new Error(`could not take the relay lock ${lock} within the time allowed`);
        const holders = await client.query<{ pid: number }>(
          `with k as (select hashtext($1)::int8 as key)
           select l.pid from pg_locks l, k
            where l.locktype = 'advisory' and l.granted and l.objsubid = 1
              and l.database = (select oid from pg_database where datname = current_database())
              and l.classid::int8 = ((k.key >> 32) & 4294967295) and l.objid::int8 = (k.key & 4294967295)
              and l.pid <> pg_backend_pid()`,
          [lock],
        );
        for (const { pid } of holders.rows) {
          options.onTerminate?.(pid);
          await client.query("select pg_terminate_backend($1)", [pid]);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  /** Lets the relays take their lock again (they reconcile with the stream first). */
  async release(): Promise<void> {
    try {
      await this.client.query("select pg_advisory_unlock(hashtext($1))", [this.lock]);
    } finally {
      await this.client.end().catch(() => undefined);
    }
  }
}
