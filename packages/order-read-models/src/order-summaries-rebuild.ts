import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import type { EventLog, RebuildTarget, Verification } from "@orderly/projector";
import type pg from "pg";
import { OrderSummariesProjection, rowToSummary } from "./order-summaries.js";
import type { OrderSummaryView } from "./order-summary.js";
import { checksumSummaries, foldEventLog } from "./verification.js";
import { ORDER_SUMMARIES, ORDER_SUMMARIES_VERSION } from "./versions.js";

const SHADOW = `${ORDER_SUMMARIES}_v2`;
const OLD = `${ORDER_SUMMARIES}_old`;

/**
 * Rebuilds `order_summaries` into `order_summaries_v2` and swaps the tables in one transaction. The swap takes an
 * EXCLUSIVE lock on the live table (readers go on, the live projector's next statement waits), catches the shadow
 * up to the live checkpoint, renames both tables, and commits: the blocked projector statement then resolves the
 * name to the new table and carries on from the same checkpoint.
 */
export class OrderSummariesRebuild implements RebuildTarget {
  readonly name = ORDER_SUMMARIES;
  private readonly shadow: OrderSummariesProjection;

  constructor(
    private readonly pool: pg.Pool,
    private readonly eventLog: EventLog,
    private readonly version: number = ORDER_SUMMARIES_VERSION,
  ) {
    this.shadow = new OrderSummariesProjection(pool, { table: SHADOW, announce: false, cacheSize: 200_000 });
  }

  async dropShadow(): Promise<void> {
    await this.pool.query(`drop table if exists ${SHADOW}`);
    await this.pool.query("delete from projection_checkpoints where name = $1", [SHADOW]);
  }

  async createShadow(): Promise<void> {
    // Unlogged while it fills (no WAL for rows rewritten batch after batch); made logged once, before the swap.
    await this.pool.query(`create unlogged table ${SHADOW} (like ${ORDER_SUMMARIES} including all)`);
    await this.pool.query("insert into projection_checkpoints (name, position, version) values ($1, 0, $2)", [
      SHADOW,
      this.version,
    ]);
    await this.shadow.checkpoint();
  }

  applyToShadow(events: readonly RecordedEvent[], after: Position): Promise<void> {
    return this.shadow.apply(events, after);
  }

  async verify(position: Position): Promise<Verification> {
    const result = await this.pool.query(`select * from ${SHADOW}`);
    const actual = checksumSummaries(result.rows.map(rowToSummary));
    const expected = checksumSummaries((await foldEventLog(this.eventLog, position)).values());
    return {
      rows: actual.rows,
      checksum: actual.checksum,
      expectedRows: expected.rows,
      expectedChecksum: expected.checksum,
    };
  }

  async swap(shadowCheckpoint: Position, catchUp: (from: Position, to: Position) => Promise<void>): Promise<Position> {
    await this.pool.query(`alter table ${SHADOW} set logged`);
    const client = await this.pool.connect();
    try {
      await client.query("begin");
      await client.query(`lock table ${ORDER_SUMMARIES} in exclusive mode`);
      const live = await client.query<{ position: number | string }>(
        "select position from projection_checkpoints where name = $1",
        [ORDER_SUMMARIES],
      );
      const position = Number(live.rows[0]?.position ?? 0);
      if (position < shadowCheckpoint) {
        // The live model is behind the shadow: never move a checkpoint backwards, so the live row jumps ahead.
        await client.query("update projection_checkpoints set position = $2 where name = $1", [
          ORDER_SUMMARIES,
          shadowCheckpoint,
        ]);
      } else {
        await catchUp(shadowCheckpoint, position);
      }
      const pkeys = await client.query<{ table: string; constraint: string }>(
        `select conrelid::regclass::text as table, conname as constraint from pg_constraint
          where conrelid in ($1::regclass, $2::regclass) and contype = 'p'`,
        [ORDER_SUMMARIES, SHADOW],
      );
      await client.query(`drop table if exists ${OLD}`);
      await client.query(`alter table ${ORDER_SUMMARIES} rename to ${OLD}`);
      await client.query(`alter table ${SHADOW} rename to ${ORDER_SUMMARIES}`);
      // Keep the canonical constraint name on the live table.
      for (const pk of pkeys.rows) {
        const table = pk.table === ORDER_SUMMARIES ? OLD : ORDER_SUMMARIES;
        await client.query(`alter table ${table} rename constraint ${pk.constraint} to ${table}_pkey_tmp`);
      }
      for (const table of [OLD, ORDER_SUMMARIES]) {
        await client.query(`alter table ${table} rename constraint ${table}_pkey_tmp to ${table}_pkey`);
      }
      await client.query(
        "update projection_checkpoints set version = $2, epoch = epoch + 1, updated_at = now() where name = $1",
        [ORDER_SUMMARIES, this.version],
      );
      await client.query("delete from projection_checkpoints where name = $1", [SHADOW]);
      const final = await client.query<{ position: number | string }>(
        "select position from projection_checkpoints where name = $1",
        [ORDER_SUMMARIES],
      );
      await client.query("commit");
      return Number(final.rows[0]?.position ?? 0);
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async dropOld(): Promise<void> {
    await this.pool.query(`drop table if exists ${OLD}`);
  }
}

/** The version `order_summaries` was built with (undefined before the first start). */
export async function storedVersion(pool: pg.Pool, name: string): Promise<number | undefined> {
  const result = await pool.query<{ version: number }>("select version from projection_checkpoints where name = $1", [
    name,
  ]);
  return result.rows[0]?.version;
}

export type { OrderSummaryView };
