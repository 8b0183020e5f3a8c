import {
  arrayLiteral,
  integerElement,
  isTransientPostgresError,
  quotedElement,
  timestampElement,
} from "@orderly/event-store-postgres";
import {
  isUuid,
  ownsStream,
  type PartitionSpec,
  type Position,
  type RecordedEvent,
  WHOLE,
} from "@orderly/eventsourcing";
import {
  type CheckpointMark,
  CheckpointMovedError,
  type Projection,
  ProjectionHandlerError,
  stopAtUnknownTypes,
  type UnknownEventPolicy,
} from "@orderly/projector";
import type pg from "pg";
import { foldBatch, type OrderSummaryView, orderIdOf, ordersNeedingState } from "./order-summary.js";
import { SUMMARY_COLUMNS as COLUMNS, keepLaterSummary, rowToSummary, type SummaryRow } from "./order-summary-rows.js";
import { checkPartition, PartitionLayoutError, partitionCheckpointName } from "./partitions.js";
import { SummaryCache } from "./summary-cache.js";
import { screenUnknown } from "./unknown-types.js";
import { ORDER_SUMMARIES, ORDER_SUMMARIES_VERSION } from "./versions.js";

/** Channel of the checkpoint announcements (`<name>:<position>`), sent inside the committing transaction. */
export const PROJECTIONS_CHANNEL = "orderly_projections";

export interface OrderSummariesProjectionOptions {
  /** Table to write (default `order_summaries`; a rebuild writes `order_summaries_v2`). */
  readonly table?: string;
  /** Checkpoint row (default the table name); partition i > 0 of it writes `<checkpointName>.p<i>`. */
  readonly checkpointName?: string;
  /**
   * The partition this writer applies (default the whole read model): it folds only the events of the orders that
   * belong to it, and moves its own checkpoint row over every event (ADR 0019). The rows must have been laid out for
   * `partition.count` (`ensurePostgresLayout`).
   */
  readonly partition?: PartitionSpec;
  /** Announce each checkpoint with pg_notify (default true; a shadow does not). */
  readonly announce?: boolean;
  /** Summaries kept from this writer's own batches (default 100,000; 0 reads every touched row back). */
  readonly cacheSize?: number;
  /** The event store's id, recorded with every checkpoint (`StoreContinuity.knownStoreId`); none when unknown. */
  readonly storeId?: () => string | undefined;
  /** What an event type this code does not know does (PROJECTOR_UNKNOWN_EVENT_TYPES; default: stop at it). */
  readonly unknownTypes?: UnknownEventPolicy;
}

/**
 * Writes a checkpoint row of `projection_checkpoints` with its mark, outside a batch (a rebuild's final checkpoint).
 * The live path writes the same columns in its batch statement (`OrderSummariesProjection.apply`).
 */
export async function writeOrderSummariesCheckpoint(
  db: Pick<pg.Pool | pg.PoolClient, "query">,
  name: string,
  mark: CheckpointMark,
): Promise<void> {
  await db.query(
    `update projection_checkpoints set position = $2, event_id = $3::uuid, store_id = $4::uuid, updated_at = now()
      where name = $1`,
    [name, mark.position, mark.eventId ?? null, mark.storeId ?? null],
  );
}

/**
 * The `order_summaries` projection. Per batch, two statements and no explicit transaction: one SELECT of the rows
 * the batch touches (folded in memory), then one statement whose CTEs compare-and-set the checkpoint, upsert the
 * changed rows from unnest() arrays only if that succeeded, and pg_notify — atomic because it is one statement.
 * That statement commits asynchronously (`set_config('synchronous_commit', 'off', true)` is local to its implicit
 * transaction): a Postgres crash can lose the last few batches, rows and checkpoint together, and the runtime then
 * finds the checkpoint behind and replays from the event store (ADR 0007). It saves the WAL flush on every batch.
 */
export class OrderSummariesProjection implements Projection {
  readonly name: string;
  private readonly table: string;
  private readonly checkpointName: string;
  private readonly loadSql: pg.QueryConfig;
  private readonly applySql: string;
  private readonly cache: SummaryCache;
  private readonly storeId: () => string | undefined;
  private readonly unknownTypes: UnknownEventPolicy;
  private readonly partition: PartitionSpec;
  private readonly base: string;
  private epoch = 0;
  private written: Position = -1;

  constructor(
    private readonly pool: pg.Pool,
    options: OrderSummariesProjectionOptions = {},
  ) {
    this.table = options.table ?? ORDER_SUMMARIES;
    this.partition = checkPartition(options.partition ?? WHOLE);
    this.base = options.checkpointName ?? this.table;
    this.checkpointName = partitionCheckpointName(this.base, this.partition.index);
    this.name = this.checkpointName;
    this.cache = new SummaryCache(options.cacheSize ?? 100_000);
    this.storeId = options.storeId ?? (() => undefined);
    this.unknownTypes = options.unknownTypes ?? stopAtUnknownTypes;
    if (!/^[a-z_][a-z0-9_]*$/.test(this.table)) throw new Error(`bad table name ${this.table}`);
    this.loadSql = {
      name: `os_load_${this.table}`,
      text: `select ${COLUMNS} from ${this.table} where order_id = any($1::uuid[])`,
    };
    const announce = options.announce ?? true;
    // Partitioned: the read model's position is the lowest partition's, so that is what is announced (the other rows as
    // this statement's snapshot sees them: a concurrent commit is announced by the next batch or found by the poll).
    const announced =
      this.partition.count === 1
        ? "cp.position::text"
        : `least(cp.position, (select min(position) from projection_checkpoints
            where (name = $22 or starts_with(name, $22 || '.p')) and name <> $1))::text`;
    this.applySql = `with cp as (
        update projection_checkpoints set position = $3, event_id = $19::uuid, store_id = $20::uuid, updated_at = now()
        where name = $1 and position = $2 and epoch = $18 and partitions = $21 returning position
      ), up as (
        insert into ${this.table} (${COLUMNS})
        select u.* from unnest($4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[],
          $11::int4[], $12::int8[], $13::timestamptz[], $14::timestamptz[], $15::int8[], $16::int8[], $17::text[])
          as u(${COLUMNS}), cp
        ${keepLaterSummary(this.table)}
      )
      select ${announce ? `pg_notify('${PROJECTIONS_CHANNEL}', $22::text || ':' || ${announced})` : "cp.position, $22::text"},
        set_config('synchronous_commit', 'off', true)
      from cp`;
  }

  /** The durable checkpoint; creates the row (at 0, current version) the first time. */
  async checkpoint(): Promise<Position> {
    // A partition's row is laid out with the others (ensurePostgresLayout), never created alone: a writer of a layout a
    // rebuild replaced finds its row gone (or another count) and stops instead of starting over at 0.
    const result = await this.pool.query<{ position: number | string; epoch: number | string; partitions: number }>(
      this.partition.count === 1
        ? `with ins as (
             insert into projection_checkpoints (name, position, version) values ($1, 0, $2)
             on conflict (name) do nothing returning position, epoch, partitions
           )
           select position, epoch, partitions from ins union all
           select position, epoch, partitions from projection_checkpoints where name = $1`
        : "select position, epoch, partitions from projection_checkpoints where name = $1 and $2::int is not null",
      [this.checkpointName, ORDER_SUMMARIES_VERSION],
    );
    const row = result.rows[0];
    if (row === undefined || row.partitions !== this.partition.count) {
      throw new PartitionLayoutError(this.base, row?.partitions ?? 0, this.partition.count);
    }
    const position = Number(row.position);
    const epoch = Number(row.epoch);
    if (position !== this.written || epoch !== this.epoch) this.cache.clear();
    this.written = position;
    this.epoch = epoch;
    return position;
  }

  /** The durable checkpoint with the event it stands on and the store it came from. */
  async checkpointMark(): Promise<CheckpointMark> {
    const result = await this.pool.query<{
      position: number | string;
      event_id: string | null;
      store_id: string | null;
    }>("select position, event_id::text, store_id::text from projection_checkpoints where name = $1", [
      this.checkpointName,
    ]);
    const row = result.rows[0];
    return {
      position: Number(row?.position ?? 0),
      eventId: row?.event_id ?? undefined,
      storeId: row?.store_id ?? undefined,
    };
  }

  async load(orderIds: readonly string[]): Promise<Map<string, OrderSummaryView>> {
    const result = await this.pool.query<SummaryRow>({ ...this.loadSql, values: [orderIds] });
    return new Map(result.rows.map((row) => [row.order_id, rowToSummary(row)]));
  }

  async apply(events: readonly RecordedEvent[], after: Position): Promise<void> {
    const last = events[events.length - 1];
    if (!last) return;
    // Skipped unknown types and other partitions' orders still move the checkpoint (to `last`); only the fold passes
    // them over.
    const own = this.partition.count === 1 ? events : events.filter((e) => ownsStream(this.partition, e.streamId));
    const folded = screenUnknown(own, this.unknownTypes);
    const ids = ordersNeedingState(folded);
    const bad = folded.find((e) => !isUuid(orderIdOf(e)));
    if (bad) throw new ProjectionHandlerError(bad.position, `stream ${bad.streamId} does not name an order uuid`);
    try {
      await this.write(folded, after, last, ids);
    } catch (error) {
      this.cache.clear();
      throw error;
    }
  }

  /** Folds `folded` (this partition's events of the batch) and moves the checkpoint to `lastEvent`, the batch's last. */
  private async write(
    folded: readonly RecordedEvent[],
    after: Position,
    lastEvent: RecordedEvent,
    ids: readonly string[],
  ): Promise<void> {
    const last = lastEvent.position;
    const lastEventId = lastEvent.metadata.eventId;
    if (this.written !== after) await this.checkpoint();
    const { found, missing } = this.cache.lookup(ids);
    if (missing.length > 0) {
      for (const [id, summary] of await this.load(missing)) {
        found.set(id, summary);
        this.cache.remember(summary);
      }
    }
    const changed = foldBatch(found, folded, this.unknownTypes);
    const rows = [...changed.values()];
    const result = await this.pool.query({
      name: `os_apply_${this.table}_${this.partition.count}`,
      text: this.applySql,
      values: [
        this.checkpointName,
        after,
        last,
        ...columnArrays(rows),
        this.epoch,
        lastEventId,
        this.storeId() ?? null,
        this.partition.count,
        this.base,
      ],
    });
    if (result.rowCount === 0) {
      this.cache.clear();
      const actual = await this.checkpoint();
      throw new CheckpointMovedError(this.name, after, actual, "checkpoint row changed underneath (or a swap)");
    }
    this.written = last;
    for (const summary of rows) this.cache.remember(summary);
  }

  isTransient(error: unknown): boolean {
    return isTransientPgError(error);
  }
}

/**
 * The 14 column arrays of the upsert ($4..$17) as Postgres array literals, built in one pass. pg would build each from a
 * JavaScript array element by element (prepareValue, escapeElement, a string concatenation each): a quarter of what a
 * projector allocated per batch (the elements: see @orderly/event-store-postgres's array-literals).
 */
export function columnArrays(rows: readonly OrderSummaryView[]): string[] {
  let orderIds = "";
  let customerIds = "";
  let statuses = "";
  let paymentStatuses = "";
  let currencies = "";
  let totals = "";
  let paid = "";
  let itemCounts = "";
  let versions = "";
  let createdAt = "";
  let updatedAt = "";
  let lastPositions = "";
  let placedPositions = "";
  let placedBy = "";
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as OrderSummaryView;
    const sep = i === 0 ? "" : ",";
    orderIds += sep + quotedElement(r.orderId);
    customerIds += sep + quotedElement(r.customerId);
    statuses += sep + quotedElement(r.status);
    paymentStatuses += sep + quotedElement(r.paymentStatus);
    currencies += sep + quotedElement(r.currency);
    totals += sep + integerElement(r.totalMinor);
    paid += sep + integerElement(r.paidMinor);
    itemCounts += sep + integerElement(r.itemCount);
    versions += sep + integerElement(r.version);
    createdAt += sep + timestampElement(r.createdAt);
    updatedAt += sep + timestampElement(r.updatedAt);
    lastPositions += sep + integerElement(r.lastPosition);
    placedPositions += sep + integerElement(r.placedPosition);
    placedBy += sep + quotedElement(r.placedBy);
  }
  return [
    orderIds,
    customerIds,
    statuses,
    paymentStatuses,
    currencies,
    totals,
    paid,
    itemCounts,
    versions,
    createdAt,
    updatedAt,
    lastPositions,
    placedPositions,
    placedBy,
  ].map(arrayLiteral);
}

/** Connection trouble, server shutdown, lock/serialization conflicts: worth retrying forever, never poison. */
export function isTransientPgError(error: unknown): boolean {
  if (error instanceof ProjectionHandlerError) return false;
  return isTransientPostgresError(error);
}
