import { ValidationError } from "@orderly/eventsourcing";
import type { LineItem, OrderEvent, PaymentData } from "@orderly/orders-domain";
import { ENVELOPE } from "./envelope-fields.js";

// What envelope-reader.ts decodes an envelope into (protobuf's defaults, int64 as it came off the wire), and the
// order event's data made from it.

export type Int64 = number | bigint;

export interface RawItem {
  sku: string;
  quantity: number;
  unitPriceMinor: Int64;
}

/** The oneof's message; which fields mean something depends on the case. */
export class RawEvent {
  orderId = "";
  customerId = "";
  currency = "";
  items: RawItem[] = [];
  totalMinor: Int64 = 0;
  amountMinor: Int64 = 0;
  paymentReference = "";
  carrier = "";
  trackingNumber = "";
  reason = "";
}

export class RawEnvelope {
  eventId = "";
  position: Int64 = 0;
  streamId = "";
  streamVersion: Int64 = 0;
  eventType = "";
  hasOccurredAt = false;
  seconds: Int64 = 0;
  nanos = 0;
  commandId = "";
  correlationId = "";
  causationId = "";
  traceparent = "";
  orderId = "";
  schemaVersion = 0;
  actor = "";
  /** Field number of the oneof case that is set, 0 for none. */
  eventField = 0;
  event = new RawEvent();
}

export function safe(value: Int64, field: string): number {
  if (typeof value === "bigint") {
    throw new ValidationError(field, `int64 out of the safe integer range: ${value}`);
  }
  return value;
}

/** The event's data, validated in the order `fromEnvelope` validates it (so both paths report the same field). */
export function eventData(r: RawEnvelope, name: string): OrderEvent["data"] {
  const e = r.event;
  const field = r.eventField;
  if (field === ENVELOPE.orderPlaced) {
    const items: LineItem[] = new Array(e.items.length);
    for (let i = 0; i < e.items.length; i++) {
      const item = e.items[i] as RawItem;
      items[i] = {
        sku: item.sku,
        quantity: item.quantity,
        unitPriceMinor: safe(item.unitPriceMinor, `order_placed.items[${i}].unit_price_minor`),
      };
    }
    return {
      orderId: e.orderId,
      customerId: e.customerId,
      currency: e.currency,
      items,
      totalMinor: safe(e.totalMinor, "order_placed.total_minor"),
    };
  }
  if (field === ENVELOPE.orderShipped) return { carrier: e.carrier, trackingNumber: e.trackingNumber };
  if (field === ENVELOPE.orderCancelled) return { reason: e.reason };
  const data: PaymentData = {
    amountMinor: safe(e.amountMinor, `${name}.amount_minor`),
    paymentReference: e.paymentReference,
  };
  return data;
}
