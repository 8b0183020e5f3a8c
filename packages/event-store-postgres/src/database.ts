import pg from "pg";

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * Type parsers for our pools: int8 (positions, versions, counts) becomes a JS number. Exact up to 2^53, which the
 * event store never reaches (see `Position` in @orderly/eventsourcing). Scoped to the pool, not `pg.types` globally.
 */
export const orderlyTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if ((oid === INT8_OID || oid === NUMERIC_OID) && format !== "binary") return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig["getTypeParser"],
};

export interface CreatePoolOptions extends Omit<pg.PoolConfig, "connectionString" | "types"> {
  /**
   * Called when an idle pooled connection fails (server restart, terminated backend). The pool already drops the
   * connection; without a listener node would crash on the unhandled `error` event. Default: ignore.
   */
  readonly onIdleError?: (error: Error) => void;
}

/** A `pg.Pool` whose int8 columns arrive as JS numbers and whose sessions cannot idle in a transaction for over a minute. */
export function createPool(url: string, options: CreatePoolOptions = {}): pg.Pool {
  const { onIdleError, ...config } = options;
  // A session idle inside a transaction may hold row locks (the global position row among them): cut it off.
  const pool = new pg.Pool({
    connectionString: url,
    types: orderlyTypes,
    max: 10,
    idle_in_transaction_session_timeout: 60_000,
    ...config,
  });
  pool.on("error", onIdleError ?? (() => {}));
  return pool;
}

/** Creates the database named in `url` if it does not exist, connecting to the `postgres` database of the same server. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const database = decodeURIComponent(target.pathname.replace(/^\//, ""));
  if (database === "")
    throw new Error(`database url ${target.protocol}//${target.host}${target.pathname} names no database`); // no credentials
  const admin = new URL(target);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (found.rowCount !== 0) return;
    try {
      await client.query(`create database ${quoteIdentifier(database)}`);
    } catch (error) {
      // Another starter created it between our check and our create: that is what we wanted.
      const code = (error as { code?: string }).code;
      if (code !== "42P04" && code !== "23505") throw error;
    }
  } finally {
    await client.end();
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
