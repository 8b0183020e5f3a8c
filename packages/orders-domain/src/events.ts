import type { Event } from "@orderly/eventsourcing";

/** Amounts are integers in minor currency units (cents). */
export interface LineItem {
  readonly sku: string;
  readonly quantity: number;
  readonly unitPriceMinor: number;
}

export type OrderPlaced = Event<
  "OrderPlaced",
  {
    readonly orderId: string;
    readonly customerId: string;
    readonly currency: string;
    readonly items: readonly LineItem[];
    readonly totalMinor: number;
  }
>;
export type PaymentAuthorized = Event<"PaymentAuthorized", PaymentData>;
export type PaymentReceived = Event<"PaymentReceived", PaymentData>;
export type PaymentFailed = Event<"PaymentFailed", PaymentData>;
export type PaymentRefunded = Event<"PaymentRefunded", PaymentData>;
export type OrderShipped = Event<"OrderShipped", { readonly carrier: string; readonly trackingNumber: string }>;
export type OrderCancelled = Event<"OrderCancelled", { readonly reason: string }>;

export interface PaymentData {
  readonly amountMinor: number;
  readonly paymentReference: string;
}

export type OrderEvent =
  | OrderPlaced
  | PaymentAuthorized
  | PaymentReceived
  | PaymentFailed
  | PaymentRefunded
  | OrderShipped
  | OrderCancelled;

export type OrderEventType = OrderEvent["type"];

export const orderEventTypes: readonly OrderEventType[] = [
  "OrderPlaced",
  "PaymentAuthorized",
  "PaymentReceived",
  "PaymentFailed",
  "PaymentRefunded",
  "OrderShipped",
  "OrderCancelled",
];

/** Streams are `order-<uuid>`. */
export const orderStreamId = (orderId: string): string => `order-${orderId}`;
export const orderIdOfStream = (streamId: string): string => streamId.slice("order-".length);
