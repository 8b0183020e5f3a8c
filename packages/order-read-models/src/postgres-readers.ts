import { isUuid, type Position, partitionOf } from "@orderly/eventsourcing";
import type pg from "pg";
import type { OrderSummaryView } from "./order-summary.js";
import { rowToSummary } from "./order-summary-rows.js";
import { MIN_CHECKPOINT_SQL, partitionCheckpointName } from "./partitions.js";
import { ORDER_SUMMARIES } from "./versions.js";

/** GetOrderSummary's reader: one primary-key lookup on `order_summaries`. */
export class PostgresOrderSummaryReader {
  /** The partition count last read, and when (ms). */
  private layout: { count: number; at: number } | undefined;

  constructor(private readonly pool: pg.Pool) {}

  /**
   * The checkpoint of the partition that owns `orderId` (ADR 0019); undefined when `order_summaries` is not
   * partitioned, or when the row read is not of the layout last seen (its count is re-read then). The row must record
   * the count used to pick it: a layout changed by a rebuild never lends another partition's checkpoint.
   */
  async partitionCheckpoint(orderId: string): Promise<Position | undefined> {
    if (!isUuid(orderId)) return undefined;
    if (this.layout === undefined || Date.now() - this.layout.at > 5_000) {
      const result = await this.pool.query<{ partitions: number }>({
        name: "os_get_partitions",
        text: "select partitions from projection_checkpoints where name = $1",
        values: [ORDER_SUMMARIES],
      });
      this.layout = { count: result.rows[0]?.partitions ?? 1, at: Date.now() };
    }
    const count = this.layout.count;
    if (count <= 1) return undefined;
    const result = await this.pool.query<{ position: number | string }>({
      name: "os_get_partition_checkpoint",
      text: "select position from projection_checkpoints where name = $1 and partitions = $2",
      values: [partitionCheckpointName(ORDER_SUMMARIES, partitionOf(orderId, count)), count],
    });
    const row = result.rows[0];
    if (row === undefined) this.layout = undefined;
    return row === undefined ? undefined : Number(row.position);
  }

  async getOrderSummary(orderId: string): Promise<OrderSummaryView | undefined> {
    if (!isUuid(orderId)) return undefined;
    const result = await this.pool.query({
      name: "os_get_summary",
      text: `select order_id, customer_id, status, payment_status, currency, total_minor, paid_minor, item_count,
        version, created_at, updated_at, last_position, placed_position, placed_by from ${ORDER_SUMMARIES}
        where order_id = $1`,
      values: [orderId],
    });
    const row = result.rows[0];
    return row ? rowToSummary(row) : undefined;
  }
}

/** The last position a Postgres read model has applied (0 before the first event): the minimum over its partitions. */
export class PostgresCheckpointReader {
  constructor(
    private readonly pool: pg.Pool,
    private readonly name: string = ORDER_SUMMARIES,
  ) {}

  async checkpoint(): Promise<Position> {
    const result = await this.pool.query<{ position: number | string }>({
      name: "os_get_checkpoint",
      // Partitioned (ADR 0019): the lowest of its partitions' checkpoints; unpartitioned, its one row.
      text: MIN_CHECKPOINT_SQL,
      values: [this.name],
    });
    return Number(result.rows[0]?.position ?? 0);
  }
}
