import { isOrderStatus, isPaymentStatus, type OrderSummaryView } from "./order-summary.js";

/** An order hash of `customer_orders` (fields: customer-orders-layout.ts) as a summary; undefined when it is not one. */
export function hashToSummary(orderId: string, h: Record<string, string>): OrderSummaryView | undefined {
  if (h.c === undefined || h.s === undefined || h.p === undefined) return undefined;
  if (!isOrderStatus(h.s) || !isPaymentStatus(h.p)) return undefined;
  return {
    orderId,
    customerId: h.c,
    status: h.s,
    paymentStatus: h.p,
    currency: h.cur ?? "",
    totalMinor: Number(h.t),
    paidMinor: Number(h.pd),
    itemCount: Number(h.n),
    version: Number(h.v),
    createdAt: new Date(Number(h.ca)),
    updatedAt: new Date(Number(h.ua)),
    lastPosition: Number(h.lp),
    placedPosition: Number(h.pp),
    placedBy: h.pb ?? "", // absent in hashes written before CUSTOMER_ORDERS_VERSION 3
  };
}
