import {
  arrayLiteral,
  integerElement,
  PostgresEventLog,
  quotedElement,
  StoreContinuity,
} from "@orderly/event-store-postgres";
import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import {
  type EventLog,
  type Logger,
  type RebuildProgress,
  type RebuildResult,
  type RebuildTarget,
  rebuildProjection,
  type Verification,
} from "@orderly/projector";
import type pg from "pg";
import { BulkFold, type BulkFoldOptions, type FoldMark, foldSourceOf, type ShadowWriter } from "./bulk-fold.js";
import { OrderSummariesProjection, writeOrderSummariesCheckpoint } from "./order-summaries.js";
import type { OrderSummaryView } from "./order-summary.js";
import { SUMMARY_COLUMNS as COLUMNS, keepLaterSummary, rowToSummary } from "./order-summary-rows.js";
import { layOut } from "./partitions.js";
import { checksumSummaries, foldEventLog } from "./verification.js";
import { ORDER_SUMMARIES, ORDER_SUMMARIES_VERSION } from "./versions.js";

const SHADOW = `${ORDER_SUMMARIES}_v2`;
const OLD = `${ORDER_SUMMARIES}_old`;

/** How a rebuild target replays, and the store id its checkpoints record with their marks. */
export interface RebuildTargetOptions extends BulkFoldOptions {
  /** The event store's id (`StoreContinuity.knownStoreId`), written with every checkpoint of the shadow. */
  readonly storeId?: () => string | undefined;
  /**
   * The partitions the rebuilt read model is laid out for (ADR 0019): how a read model changes its count. Default: the
   * count it has.
   */
  readonly partitions?: number;
}

/** What a rebuild of either read model takes besides its stores. */
export interface ReadModelRebuildOptions extends RebuildTargetOptions {
  readonly logger?: Logger;
  /** Compare the shadow with a fresh fold before the swap (default true). */
  readonly verify?: boolean;
  /** Progress for a progress bar: positions folded into the shadow of the head (`phase` "replay"), then the rest. */
  readonly onProgress?: (progress: RebuildProgress) => void;
}

/**
 * Rebuilds `order_summaries` from the event store with no downtime (the CLI's `rebuild order_summaries`, recovery,
 * the projector on a version change): a bulk fold into the shadow, verification, swap.
 */
export async function rebuildOrderSummaries(
  pool: pg.Pool,
  options: ReadModelRebuildOptions = {},
): Promise<RebuildResult> {
  const eventLog = new PostgresEventLog(pool);
  const storeId = options.storeId ?? (await storeIdOf(pool));
  const target = new OrderSummariesRebuild(pool, eventLog, ORDER_SUMMARIES_VERSION, { ...options, storeId });
  return rebuildProjection(target, eventLog, {
    batchSize: options.pageSize ?? 20_000,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.verify !== undefined ? { verify: options.verify } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

/** The store's id as `StoreContinuity` reads it, for the marks of a rebuild's checkpoints. */
export async function storeIdOf(pool: pg.Pool): Promise<() => string | undefined> {
  const storeId = await new StoreContinuity(pool).storeId();
  return () => storeId;
}

/** `columnArrays` with the two timestamps as epoch milliseconds. */
function shadowColumnArrays(rows: readonly OrderSummaryView[]): string[] {
  const columns = Array.from({ length: 14 }, () => "");
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as OrderSummaryView;
    const sep = i === 0 ? "" : ",";
    columns[0] += sep + quotedElement(r.orderId);
    columns[1] += sep + quotedElement(r.customerId);
    columns[2] += sep + quotedElement(r.status);
    columns[3] += sep + quotedElement(r.paymentStatus);
    columns[4] += sep + quotedElement(r.currency);
    columns[5] += sep + integerElement(r.totalMinor);
    columns[6] += sep + integerElement(r.paidMinor);
    columns[7] += sep + integerElement(r.itemCount);
    columns[8] += sep + integerElement(r.version);
    columns[9] += sep + integerElement(r.createdAt.getTime());
    columns[10] += sep + integerElement(r.updatedAt.getTime());
    columns[11] += sep + integerElement(r.lastPosition);
    columns[12] += sep + integerElement(r.placedPosition);
    columns[13] += sep + quotedElement(r.placedBy);
  }
  return columns.map(arrayLiteral);
}

/** The shadow table as the bulk fold writes it: unnest() upserts that keep the later of two writes of an order. */
class ShadowTableWriter implements ShadowWriter {
  constructor(
    private readonly pool: pg.Pool,
    private readonly storeId: () => string | undefined,
  ) {}

  async write(rows: readonly OrderSummaryView[]): Promise<void> {
    // The timestamps travel as epoch milliseconds: formatting two ISO strings per row in Node and parsing them in
    // Postgres cost more than the rest of the row (epoch + n ms is exact in microseconds).
    await this.pool.query({
      name: "os_shadow_write",
      text: `insert into ${SHADOW} (${COLUMNS})
        select u.order_id, u.customer_id, u.status, u.payment_status, u.currency, u.total_minor, u.paid_minor,
          u.item_count, u.version, timestamptz 'epoch' + u.created_ms * interval '1 millisecond',
          timestamptz 'epoch' + u.updated_ms * interval '1 millisecond', u.last_position, u.placed_position, u.placed_by
        from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[],
          $8::int4[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::text[])
          as u(order_id, customer_id, status, payment_status, currency, total_minor, paid_minor, item_count, version,
            created_ms, updated_ms, last_position, placed_position, placed_by)
        ${keepLaterSummary(SHADOW)}`,
      values: shadowColumnArrays(rows),
    });
  }

  async load(orderIds: readonly string[]): Promise<Map<string, OrderSummaryView>> {
    const result = await this.pool.query(`select ${COLUMNS} from ${SHADOW} where order_id = any($1::uuid[])`, [
      orderIds,
    ]);
    return new Map(result.rows.map((row) => [row.order_id, rowToSummary(row)]));
  }

  /** Through the read model's own checkpoint writer, so the shadow's checkpoint carries its mark. */
  async setCheckpoint(mark: FoldMark): Promise<void> {
    await writeOrderSummariesCheckpoint(this.pool, SHADOW, { ...mark, storeId: this.storeId() });
  }
}

/**
 * Rebuilds `order_summaries` into `order_summaries_v2` and swaps the tables in one transaction. The swap takes an
 * EXCLUSIVE lock on the live table (readers go on, the live projector's next statement waits), catches the shadow
 * up to the live checkpoint, renames both tables, and commits: the blocked projector statement then resolves the
 * name to the new table and carries on from the same checkpoint.
 */
export class OrderSummariesRebuild implements RebuildTarget {
  readonly name = ORDER_SUMMARIES;
  private readonly shadow: OrderSummariesProjection;
  private fold: BulkFold | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly eventLog: EventLog,
    private readonly version: number = ORDER_SUMMARIES_VERSION,
    private readonly options: RebuildTargetOptions = {},
  ) {
    this.shadow = new OrderSummariesProjection(pool, {
      table: SHADOW,
      announce: false,
      cacheSize: 200_000,
      ...(options.storeId ? { storeId: options.storeId } : {}),
      ...(options.unknownTypes ? { unknownTypes: options.unknownTypes } : {}),
    });
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
    this.fold = new BulkFold(
      foldSourceOf(this.eventLog),
      new ShadowTableWriter(this.pool, this.options.storeId ?? (() => undefined)),
      this.options,
    );
  }

  replay(from: Position, to: Position, onProgress: (done: Position, total: Position) => void): Promise<Position> {
    if (!this.fold) throw new Error(`${SHADOW}: replay before createShadow`);
    return this.fold.replay(from, to, (p) => onProgress(p.done, p.total));
  }

  applyToShadow(events: readonly RecordedEvent[], after: Position): Promise<void> {
    return this.shadow.apply(events, after);
  }

  async verify(position: Position): Promise<Verification> {
    const [result, folded] = await Promise.all([
      this.pool.query(`select * from ${SHADOW}`),
      foldEventLog(this.eventLog, position, undefined, this.options.unknownTypes?.mode),
    ]);
    const actual = checksumSummaries(result.rows.map(rowToSummary));
    const expected = checksumSummaries(folded.values());
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
      // Partitioned (ADR 0019): the furthest partition's checkpoint; the shadow catches up to it, so it holds every
      // partition's events up to there, and every partition of the new layout starts from it.
      const live = await client.query<{ position: number | string | null; partitions: number | null }>(
        `select max(position) as position, max(partitions) filter (where name = $1) as partitions
           from projection_checkpoints where name = $1 or starts_with(name, $1 || '.p')`,
        [ORDER_SUMMARIES],
      );
      const position = Number(live.rows[0]?.position ?? 0);
      const partitions = this.options.partitions ?? live.rows[0]?.partitions ?? 1;
      // The live model behind the shadow: never move a checkpoint backwards, so the live rows jump ahead, with the mark
      // of the shadow's checkpoint (the last event the rebuild folded).
      if (position > shadowCheckpoint) await catchUp(shadowCheckpoint, position);
      await layOut(client, ORDER_SUMMARIES, partitions, await this.shadow.checkpointMark());
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
        "update projection_checkpoints set version = $2 where name = $1 or starts_with(name, $1 || '.p')",
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
