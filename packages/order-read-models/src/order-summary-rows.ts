import { isOrderStatus, isPaymentStatus, type OrderSummaryView } from "./order-summary.js";

// A row of `order_summaries` (and of a rebuild's shadow, created `like` it): its columns, how it reads back as a
// summary, and how an upsert keeps the later of two writes of an order. The live projection, the rebuild's writer, the
// readers and the snapshots share them.

/** The columns of a summary row, in the order the upserts' arrays and the readers' select lists use. */
export const SUMMARY_COLUMNS =
  "order_id, customer_id, status, payment_status, currency, total_minor, paid_minor, item_count, version, created_at, updated_at, last_position, placed_position, placed_by";

export interface SummaryRow {
  order_id: string;
  customer_id: string;
  status: string;
  payment_status: string;
  currency: string;
  total_minor: number | string;
  paid_minor: number | string;
  item_count: number;
  version: number | string;
  created_at: Date;
  updated_at: Date;
  last_position: number | string;
  placed_position: number | string;
  /** Absent from rows read before migration 0004 (a caller's own select list). */
  placed_by?: string | null;
}

export function rowToSummary(row: SummaryRow): OrderSummaryView {
  if (!isOrderStatus(row.status) || !isPaymentStatus(row.payment_status)) {
    throw new Error(`order_summaries row ${row.order_id} has status ${row.status}/${row.payment_status}`);
  }
  return {
    orderId: row.order_id,
    customerId: row.customer_id,
    status: row.status,
    paymentStatus: row.payment_status,
    currency: row.currency,
    totalMinor: Number(row.total_minor),
    paidMinor: Number(row.paid_minor),
    itemCount: row.item_count,
    version: Number(row.version),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastPosition: Number(row.last_position),
    placedPosition: Number(row.placed_position),
    placedBy: row.placed_by ?? "",
  };
}

/**
 * The conflict clause of an upsert into `table`: an order written again takes every column of the new row, unless the
 * row it has stands on a later event (two writes in flight, a replay of events it already holds).
 */
export function keepLaterSummary(table: string): string {
  return `on conflict (order_id) do update set
          customer_id = excluded.customer_id, status = excluded.status, payment_status = excluded.payment_status,
          currency = excluded.currency, total_minor = excluded.total_minor, paid_minor = excluded.paid_minor,
          item_count = excluded.item_count, version = excluded.version, created_at = excluded.created_at,
          updated_at = excluded.updated_at, last_position = excluded.last_position,
          placed_position = excluded.placed_position, placed_by = excluded.placed_by
        where ${table}.last_position < excluded.last_position`;
}
