import type { Command } from "@orderly/eventsourcing";
import type { LineItem } from "./events.js";
import type { PaymentStatus } from "./status.js";

/** Places a new order. `orderId` is a lower-case UUID chosen by the client or the edge. */
export type CreateOrder = Command<
  "CreateOrder",
  {
    readonly orderId: string;
    readonly customerId: string;
    readonly currency: string;
    readonly items: readonly LineItem[];
  }
>;

/** Records a payment status change; `amountMinor` is in minor currency units. */
export type UpdatePaymentStatus = Command<
  "UpdatePaymentStatus",
  {
    readonly orderId: string;
    readonly status: PaymentStatus;
    readonly amountMinor: number;
    readonly paymentReference: string;
  }
>;

export type ShipOrder = Command<
  "ShipOrder",
  { readonly orderId: string; readonly carrier: string; readonly trackingNumber: string }
>;

export type CancelOrder = Command<"CancelOrder", { readonly orderId: string; readonly reason: string }>;

export type OrderCommand = CreateOrder | UpdatePaymentStatus | ShipOrder | CancelOrder;

export type OrderCommandType = OrderCommand["type"];
