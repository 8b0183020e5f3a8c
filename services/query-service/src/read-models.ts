import type { OrderStatus, PaymentStatus } from "@orderly/orders-domain";

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

export interface OrderSummaryView {
  orderId: string;
  customerId: string;
  status: OrderStatus;
  paymentStatus: PaymentStatus;
  currency: string;
  totalMinor: number;
  paidMinor: number;
  itemCount: number;
  /** Stream version of the last applied event. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** Global position of the last applied event. */
  lastPosition: number;
  /** Who placed the order (the authenticated caller of CreateOrder); '' or absent when unknown. */
  placedBy?: string;
}

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
