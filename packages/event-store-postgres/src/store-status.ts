import type pg from "pg";

/** A downstream reader's checkpoint row in `relay_checkpoints` (the outbox relay: `outbox-relay`). */
export interface RelayCheckpointRow {
  readonly name: string;
  readonly position: number;
  /** The event the checkpoint stands on; undefined for rows written before store identities (migration 0006). */
  readonly eventId: string | undefined;
  readonly updatedAt: Date;
}

/** A position range that a recovery skipped (`retired_positions`). */
export interface RetiredRange {
  readonly first: number;
  readonly last: number;
  readonly retiredAt: Date;
  readonly reason: string;
}

/** The store at a glance, for `pnpm orderly status` and `verify`. */
export interface StoreStatus {
  /** `global_position.last`: the highest position given out (0 when empty). */
  readonly head: number;
  /** The highest position that holds an event (below `head` only when positions were retired past the last event). */
  readonly lastEventPosition: number;
  /** undefined before migration 0006. */
  readonly storeId: string | undefined;
  readonly relayCheckpoints: readonly RelayCheckpointRow[];
  readonly retired: readonly RetiredRange[];
}

/**
 * The ranges a recovery retired that overlap the positions after `after` up to `upTo`, in order: positions known to hold
 * no event, which readers of the log step over (a gap anywhere else is not explained and stops them).
 */
export async function readRetiredRanges(
  pool: pg.Pool,
  after: number,
  upTo: number,
): Promise<{ readonly first: number; readonly last: number }[]> {
  const result = await pool.query<{ first: string; last: string }>({
    name: "orderly_retired_between",
    text: "select first::text, last::text from retired_positions where last > $1 and first <= $2 order by first",
    values: [after, upTo],
  });
  return result.rows.map((r) => ({ first: Number(r.first), last: Number(r.last) }));
}

/** Reads the store's head, identity, relay checkpoints and retired ranges (read-only; tolerates a schema before 0006). */
export async function readStoreStatus(pool: pg.Pool): Promise<StoreStatus> {
  const tables = await pool.query<{ identity: boolean; retired: boolean; event_id: boolean; events: boolean }>(
    `select to_regclass('store_identity') is not null as identity,
            to_regclass('retired_positions') is not null as retired,
            to_regclass('events') is not null as events,
            exists (select 1 from information_schema.columns
                     where table_schema = current_schema() and table_name = 'relay_checkpoints'
                       and column_name = 'event_id') as event_id`,
  );
  const has = tables.rows[0];
  if (!has?.events) throw new Error("the database holds no event store (no `events` table): is DATABASE_URL right?");
  const [head, last, identity, checkpoints, retired] = await Promise.all([
    pool.query<{ last: number }>("select last from global_position where id = 1"),
    pool.query<{ position: number | null }>("select max(position) as position from events"),
    has.identity
      ? pool.query<{ store_id: string }>("select store_id::text from store_identity")
      : Promise.resolve(undefined),
    pool.query<{ name: string; position: number; event_id: string | null; updated_at: Date }>(
      `select name, position, ${has.event_id ? "event_id::text" : "null::text as event_id"}, updated_at
         from relay_checkpoints order by name`,
    ),
    has.retired
      ? pool.query<{ first: number; last: number; retired_at: Date; reason: string }>(
          "select first, last, retired_at, reason from retired_positions order by first",
        )
      : Promise.resolve(undefined),
  ]);
  return {
    head: Number(head.rows[0]?.last ?? 0),
    lastEventPosition: Number(last.rows[0]?.position ?? 0),
    storeId: identity?.rows[0]?.store_id,
    relayCheckpoints: checkpoints.rows.map((r) => ({
      name: r.name,
      position: Number(r.position),
      eventId: r.event_id ?? undefined,
      updatedAt: r.updated_at,
    })),
    retired: (retired?.rows ?? []).map((r) => ({
      first: Number(r.first),
      last: Number(r.last),
      retiredAt: r.retired_at,
      reason: r.reason,
    })),
  };
}

/** The event id the store holds at each of `positions` (absent: no event there). */
export async function eventIdsAt(pool: pg.Pool, positions: readonly number[]): Promise<Map<number, string>> {
  const wanted = positions.filter((p) => p > 0);
  if (wanted.length === 0) return new Map();
  const result = await pool.query<{ position: number; event_id: string }>(
    "select position, event_id::text from events where position = any($1::bigint[])",
    [wanted],
  );
  return new Map(result.rows.map((r) => [Number(r.position), r.event_id]));
}
