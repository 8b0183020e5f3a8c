import type { CommandMetadata } from "@orderly/eventsourcing";
import type { CancelOrder, CreateOrder, ShipOrder, UpdatePaymentStatus } from "./commands.js";
import type { LineItem, OrderEvent } from "./events.js";
import type { PaymentStatus } from "./status.js";

// Builders for the decider tests (excluded from nothing: tiny, pure, and handy for other packages' tests too).

export const orderId = "0b9c3c4e-7f43-4c55-9b0e-3b1d8a0f6c21";

export const metadata: CommandMetadata = {
  commandId: "6f1c2d1e-1111-4a2b-8c3d-000000000001",
  correlationId: "6f1c2d1e-1111-4a2b-8c3d-000000000001",
  causationId: "6f1c2d1e-1111-4a2b-8c3d-000000000001",
  now: new Date("2026-11-26T06:00:00.000Z"),
};

export const twoItems: readonly LineItem[] = [
  { sku: "SKU-1", quantity: 2, unitPriceMinor: 1250 },
  { sku: "SKU-2", quantity: 1, unitPriceMinor: 500 },
];
/** 2 × 1250 + 1 × 500 */
export const total = 3000;

export const createOrder = (data: Partial<CreateOrder["data"]> = {}): CreateOrder => ({
  type: "CreateOrder",
  data: { orderId, customerId: "customer-1", currency: "EUR", items: twoItems, ...data },
  metadata,
});

export const updatePayment = (
  status: PaymentStatus,
  amountMinor: number,
  data: Partial<UpdatePaymentStatus["data"]> = {},
): UpdatePaymentStatus => ({
  type: "UpdatePaymentStatus",
  data: { orderId, status, amountMinor, paymentReference: "psp-42", ...data },
  metadata,
});

export const shipOrder = (data: Partial<ShipOrder["data"]> = {}): ShipOrder => ({
  type: "ShipOrder",
  data: { orderId, carrier: "DHL", trackingNumber: "JD0123", ...data },
  metadata,
});

export const cancelOrder = (data: Partial<CancelOrder["data"]> = {}): CancelOrder => ({
  type: "CancelOrder",
  data: { orderId, reason: "changed my mind", ...data },
  metadata,
});

export const placed: OrderEvent = {
  type: "OrderPlaced",
  data: { orderId, customerId: "customer-1", currency: "EUR", items: twoItems, totalMinor: total },
};
const payment = (amountMinor: number) => ({ amountMinor, paymentReference: "psp-42" });
export const authorized: OrderEvent = { type: "PaymentAuthorized", data: payment(total) };
export const received: OrderEvent = { type: "PaymentReceived", data: payment(total) };
export const failed: OrderEvent = { type: "PaymentFailed", data: payment(total) };
export const refunded: OrderEvent = { type: "PaymentRefunded", data: payment(total) };
export const shipped: OrderEvent = { type: "OrderShipped", data: { carrier: "DHL", trackingNumber: "JD0123" } };
export const cancelled: OrderEvent = { type: "OrderCancelled", data: { reason: "changed my mind" } };
