import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  type CancelOrderRequest,
  CancelOrderRequestSchema,
  type CreateOrderRequest,
  CreateOrderRequestSchema,
  PaymentStatus,
  type ShipOrderRequest,
  ShipOrderRequestSchema,
  type UpdatePaymentStatusRequest,
  UpdatePaymentStatusRequestSchema,
} from "@orderly/contracts";

// Request builders for the service's tests (not part of the build).

let counter = 0;
export const key = (label = "k") => `${label}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2)}`;

/** 2 × 1250 + 1 × 500 */
export const total = 3000n;

export const createOrderRequest = (init: MessageInitShape<typeof CreateOrderRequestSchema> = {}): CreateOrderRequest =>
  create(CreateOrderRequestSchema, {
    idempotencyKey: key("create"),
    customerId: "customer-1",
    currency: "EUR",
    items: [
      { sku: "SKU-1", quantity: 2, unitPriceMinor: 1250n },
      { sku: "SKU-2", quantity: 1, unitPriceMinor: 500n },
    ],
    ...init,
  });

export const paymentRequest = (
  orderId: string,
  status: PaymentStatus,
  init: MessageInitShape<typeof UpdatePaymentStatusRequestSchema> = {},
): UpdatePaymentStatusRequest =>
  create(UpdatePaymentStatusRequestSchema, {
    idempotencyKey: key("pay"),
    orderId,
    status,
    amountMinor: status === PaymentStatus.FAILED ? 0n : total,
    paymentReference: "psp-1",
    ...init,
  });

/** A builder of requests on an order: a fresh idempotency key, the order, `defaults`, then the caller's `init`. */
const onOrder =
  <S extends DescMessage>(schema: S, label: string, defaults: MessageInitShape<S>) =>
  (orderId: string, init: MessageInitShape<S> = {} as MessageInitShape<S>): MessageShape<S> =>
    create(schema, { idempotencyKey: key(label), orderId, ...defaults, ...init } as MessageInitShape<S>);

export const shipRequest: (
  orderId: string,
  init?: MessageInitShape<typeof ShipOrderRequestSchema>,
) => ShipOrderRequest = onOrder(ShipOrderRequestSchema, "ship", { carrier: "DHL", trackingNumber: "JD01" });

export const cancelRequest: (
  orderId: string,
  init?: MessageInitShape<typeof CancelOrderRequestSchema>,
) => CancelOrderRequest = onOrder(CancelOrderRequestSchema, "cancel", { reason: "changed mind" });
