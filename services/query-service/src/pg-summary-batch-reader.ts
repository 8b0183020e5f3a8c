import { ORDER_SUMMARIES, rowToSummary } from "@orderly/order-read-models";
import type pg from "pg";
import type { OrderSummaryBatchReader } from "./batching-reader.js";
import type { OrderSummaryView } from "./read-models.js";

/**
 * Many orders of `order_summaries` in one primary-key query, for the BatchingOrderSummaryReader.
 * (It belongs beside PostgresOrderSummaryReader in @orderly/order-read-models; kept here until it moves there.)
 */
export class PostgresOrderSummaryBatchReader implements OrderSummaryBatchReader {
  constructor(private readonly pool: pg.Pool) {}

  async getOrderSummaries(orderIds: readonly string[]): Promise<OrderSummaryView[]> {
    const result = await this.pool.query({
      name: "query-service-order-summaries",
      text: `select * from ${ORDER_SUMMARIES} where order_id = any($1::uuid[])`,
      values: [orderIds],
    });
    return result.rows.map(rowToSummary);
  }
}
