import type { OrderSummaryView as StoredOrderSummary } from "@orderly/order-read-models";

/**
 * The query side's ports. The query service declares them (the code that uses an interface owns it);
 * `@orderly/order-read-models` implements them over Postgres and Redis.
 */

/** The read models the query service serves, by their public names (ReadModelPosition.read_model). */
export const readModelNames = ["order_summaries", "customer_orders"] as const;
export type ReadModelName = (typeof readModelNames)[number];

export function isReadModelName(name: string): name is ReadModelName {
  return (readModelNames as readonly string[]).includes(name);
}

/**
 * One order as the queries serve it: the read models' summary (one definition, `@orderly/order-read-models`) without
 * the OrderPlaced position (only the customer list's order uses it); `placedBy`, the authenticated caller of
 * CreateOrder, is '' or absent when unknown (`customer_orders` does not keep it).
 */
export type OrderSummaryView = Omit<StoredOrderSummary, "placedPosition" | "placedBy"> & { placedBy?: string };

export interface OrderSummaryReader {
  getOrderSummary(orderId: string): Promise<OrderSummaryView | undefined>;
  /**
   * A partitioned read model (ADR 0019): the checkpoint of the partition that owns the order, read where the rows are
   * read. Undefined when the read model is not partitioned (or its layout just changed): wait for the whole model.
   */
  partitionCheckpoint?(orderId: string): Promise<number | undefined>;
}

export interface CustomerOrdersPage {
  orders: OrderSummaryView[];
  /** Opaque cursor of the next page; absent on the last page. */
  next?: string;
}

export interface CustomerOrdersReader {
  /** Newest first (created_at, ties by position). `after`/`next` are the reader's opaque cursors. */
  listCustomerOrders(customerId: string, page: { limit: number; after?: string }): Promise<CustomerOrdersPage>;
}

/** The last global position a read model has applied (0 before the first event). One per read model. */
export interface CheckpointReader {
  checkpoint(): Promise<number>;
}
