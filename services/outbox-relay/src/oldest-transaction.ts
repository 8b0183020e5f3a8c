import { createPool } from "@orderly/event-store-postgres";
import { Gauge, type Registry } from "prom-client";

export const OLDEST_TRANSACTION_METRIC = "orderly_oldest_transaction_age_seconds";

// Client sessions of this database only (not autovacuum, not other databases on the server), and never a session
// that is merely idle: only an open transaction holds row locks (the position counter) and the xmin horizon.
const OLDEST_TRANSACTION_SQL = `
  select current_database() as datname,
         coalesce(extract(epoch from max(clock_timestamp() - xact_start)), 0)::float8 as age
    from pg_stat_activity
   where datname = current_database()
     and backend_type = 'client backend'
     and xact_start is not null
     and state is distinct from 'idle'
     and pid <> pg_backend_pid()`;

export interface OldestTransactionOptions {
  readonly databaseUrl: string;
  /** Bound on one sample (connect + query, default 2000 ms): a scrape must not hang with the database. */
  readonly timeoutMs?: number;
  readonly onError?: (error: unknown) => void;
}

export interface OldestTransactionGauge {
  close(): Promise<void>;
}

/**
 * `orderly_oldest_transaction_age_seconds{datname}`: how long the oldest open transaction in the event store's
 * database has been open (0 when none), sampled from pg_stat_activity at each scrape over a connection of its own.
 * A transaction left open holds the position counter and stalls every append and so the relay (ADR 0003): the
 * LongTransactionBlocksAppends alert reads this. When the database cannot be asked, the series is absent.
 */
export function registerOldestTransactionAge(
  registry: Registry,
  options: OldestTransactionOptions,
): OldestTransactionGauge {
  const timeoutMs = options.timeoutMs ?? 2000;
  const pool = createPool(options.databaseUrl, {
    max: 1,
    application_name: "outbox-relay metrics",
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  new Gauge({
    name: OLDEST_TRANSACTION_METRIC,
    help: "Age of the oldest open transaction in the event store's database (pg_stat_activity), 0 when none",
    labelNames: ["datname"],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const result = await pool.query<{ datname: string; age: number }>(OLDEST_TRANSACTION_SQL);
        const row = result.rows[0];
        if (row) this.set({ datname: row.datname }, row.age);
      } catch (error) {
        options.onError?.(error);
      }
    },
  });
  return {
    close: () => pool.end(),
  };
}
