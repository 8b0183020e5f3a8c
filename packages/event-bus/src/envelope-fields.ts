import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  EventEnvelopeSchema,
  LineItemSchema,
  OrderCancelledSchema,
  OrderPlacedSchema,
  OrderShippedSchema,
  PaymentAuthorizedSchema,
  PaymentFailedSchema,
  PaymentReceivedSchema,
  PaymentRefundedSchema,
} from "@orderly/contracts";
import type { OrderEventType } from "@orderly/orders-domain";
import { fieldNumbers } from "./proto-writer.js";

// The field numbers the hand-written envelope writer and reader use, from the generated descriptors of
// proto/orderly/orders/v1/events.proto, each checked against the kind the codec writes (fieldNumbers throws at load
// when the proto and the codec disagree).

export const ENVELOPE = fieldNumbers(EventEnvelopeSchema, {
  eventId: "string",
  position: "int64",
  streamId: "string",
  streamVersion: "int64",
  eventType: "string",
  occurredAt: "message",
  commandId: "string",
  correlationId: "string",
  causationId: "string",
  traceparent: "string",
  orderId: "string",
  eventSchemaVersion: "int32",
  actor: "string",
  orderPlaced: "message",
  paymentAuthorized: "message",
  paymentReceived: "message",
  paymentFailed: "message",
  paymentRefunded: "message",
  orderShipped: "message",
  orderCancelled: "message",
});

export const TIMESTAMP = fieldNumbers(TimestampSchema, { seconds: "int64", nanos: "int32" });

export const ORDER_PLACED = fieldNumbers(OrderPlacedSchema, {
  orderId: "string",
  customerId: "string",
  currency: "string",
  items: "repeated message",
  totalMinor: "int64",
});

export const LINE_ITEM = fieldNumbers(LineItemSchema, { sku: "string", quantity: "int32", unitPriceMinor: "int64" });

const paymentKinds = { amountMinor: "int64", paymentReference: "string" } as const;

/** The four payment events share one shape, field numbers included (checked here). */
export const PAYMENT = fieldNumbers(PaymentAuthorizedSchema, paymentKinds);
for (const schema of [PaymentReceivedSchema, PaymentFailedSchema, PaymentRefundedSchema]) {
  const other = fieldNumbers(schema, paymentKinds);
  if (other.amountMinor !== PAYMENT.amountMinor || other.paymentReference !== PAYMENT.paymentReference) {
    throw new Error(`${schema.typeName} no longer has the field numbers of ${PaymentAuthorizedSchema.typeName}`);
  }
}

export const ORDER_SHIPPED = fieldNumbers(OrderShippedSchema, { carrier: "string", trackingNumber: "string" });

export const ORDER_CANCELLED = fieldNumbers(OrderCancelledSchema, { reason: "string" });

/** The envelope's `event` oneof: the field of each event type's case. */
export const EVENT_CASE_FIELD: Readonly<Record<OrderEventType, number>> = {
  OrderPlaced: ENVELOPE.orderPlaced,
  PaymentAuthorized: ENVELOPE.paymentAuthorized,
  PaymentReceived: ENVELOPE.paymentReceived,
  PaymentFailed: ENVELOPE.paymentFailed,
  PaymentRefunded: ENVELOPE.paymentRefunded,
  OrderShipped: ENVELOPE.orderShipped,
  OrderCancelled: ENVELOPE.orderCancelled,
};

// Field numbers of each message as bit sets, for the reader (telling a wrong wire type from an unknown field).
const bits = (numbers: Readonly<Record<string, number>>): number =>
  Object.values(numbers).reduce((set, n) => set | (1 << n), 0);
export const ENVELOPE_FIELDS = bits(ENVELOPE);
export const TIMESTAMP_FIELDS = bits(TIMESTAMP);
export const ORDER_PLACED_FIELDS = bits(ORDER_PLACED);
export const LINE_ITEM_FIELDS = bits(LINE_ITEM);
export const PAYMENT_FIELDS = bits(PAYMENT);
export const ORDER_SHIPPED_FIELDS = bits(ORDER_SHIPPED);
export const ORDER_CANCELLED_FIELDS = bits(ORDER_CANCELLED);
for (const set of Object.values(ENVELOPE)) if (set >= 32) throw new Error("envelope field numbers must stay below 32");

/** The oneof's cases by field number, in one table: the event type and protobuf-es's case name. */
export const caseByField = new Map<number, { readonly type: OrderEventType; readonly name: string }>([
  [ENVELOPE.orderPlaced, { type: "OrderPlaced", name: "orderPlaced" }],
  [ENVELOPE.paymentAuthorized, { type: "PaymentAuthorized", name: "paymentAuthorized" }],
  [ENVELOPE.paymentReceived, { type: "PaymentReceived", name: "paymentReceived" }],
  [ENVELOPE.paymentFailed, { type: "PaymentFailed", name: "paymentFailed" }],
  [ENVELOPE.paymentRefunded, { type: "PaymentRefunded", name: "paymentRefunded" }],
  [ENVELOPE.orderShipped, { type: "OrderShipped", name: "orderShipped" }],
  [ENVELOPE.orderCancelled, { type: "OrderCancelled", name: "orderCancelled" }],
]);
