import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type OrderSummary,
  OrderSummarySchema,
  OrderStatus as ProtoOrderStatus,
  PaymentStatus as ProtoPaymentStatus,
  type ReadModelPosition,
  ReadModelPositionSchema,
} from "@orderly/contracts";
import { ValidationError } from "@orderly/eventsourcing";
import type { OrderStatus, PaymentStatus } from "@orderly/orders-domain";
import type { Consistency } from "./queries.js";
import type { OrderSummaryView } from "./read-models.js";

/** The one place where read-model views and protobuf messages meet. */

const orderStatus: Record<OrderStatus, ProtoOrderStatus> = {
  placed: ProtoOrderStatus.PLACED,
  paid: ProtoOrderStatus.PAID,
  shipped: ProtoOrderStatus.SHIPPED,
  cancelled: ProtoOrderStatus.CANCELLED,
};

const paymentStatus: Record<PaymentStatus, ProtoPaymentStatus> = {
  pending: ProtoPaymentStatus.PENDING,
  authorized: ProtoPaymentStatus.AUTHORIZED,
  paid: ProtoPaymentStatus.PAID,
  failed: ProtoPaymentStatus.FAILED,
  refunded: ProtoPaymentStatus.REFUNDED,
};

export function toSummary(view: OrderSummaryView): OrderSummary {
  return create(OrderSummarySchema, {
    orderId: view.orderId,
    customerId: view.customerId,
    status: orderStatus[view.status] ?? ProtoOrderStatus.UNSPECIFIED,
    paymentStatus: paymentStatus[view.paymentStatus] ?? ProtoPaymentStatus.UNSPECIFIED,
    currency: view.currency,
    totalMinor: BigInt(view.totalMinor),
    paidMinor: BigInt(view.paidMinor),
    itemCount: view.itemCount,
    version: BigInt(view.version),
    createdAt: timestampFromDate(view.createdAt),
    updatedAt: timestampFromDate(view.updatedAt),
    placedBy: view.placedBy ?? "",
  });
}

export function toReadModelPosition(consistency: Consistency): ReadModelPosition {
  return create(ReadModelPositionSchema, {
    readModel: consistency.readModel,
    position: BigInt(consistency.position),
    lagSeconds: consistency.lagSeconds,
  });
}

/** An int64 position from a request: >= 0 and within JS's exact integers, else INVALID_ARGUMENT on `field`. */
export function positionFromProto(value: bigint, field: string): number {
  if (value < 0n) throw new ValidationError(field, "must be >= 0");
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ValidationError(field, "is too large");
  return Number(value);
}
