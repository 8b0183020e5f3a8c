import { isUuid, type Position } from "@orderly/eventsourcing";
import type pg from "pg";
import { rowToSummary } from "./order-summaries.js";
import type { OrderSummaryView } from "./order-summary.js";
import { MIN_CHECKPOINT_SQL } from "./partitions.js";
import { ORDER_SUMMARIES } from "./versions.js";

/** GetOrderSummary's reader: one primary-key lookup on `order_summaries`. */
export class PostgresOrderSummaryReader {
  constructor(private readonly pool: pg.Pool) {}

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
