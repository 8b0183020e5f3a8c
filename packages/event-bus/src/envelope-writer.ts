import type { RecordedEvent } from "@orderly/eventsourcing";
import { ValidationError } from "@orderly/eventsourcing";
import {
  type OrderCancelled,
  type OrderEvent,
  type OrderEventType,
  type OrderPlaced,
  type OrderShipped,
  orderIdOfStream,
  type PaymentData,
} from "@orderly/orders-domain";
import {
  ENVELOPE,
  EVENT_CASE_FIELD,
  LINE_ITEM,
  ORDER_CANCELLED,
  ORDER_PLACED,
  ORDER_SHIPPED,
  PAYMENT,
  TIMESTAMP,
} from "./envelope-fields.js";
import { ProtoWriter } from "./proto-writer.js";

const writer = new ProtoWriter();

function safeInt(value: number, field: string): number {
  if (!Number.isSafeInteger(value)) throw new ValidationError(field, `not a safe integer: ${value}`);
  return value;
}

/**
 * Writes one `orderly.orders.v1.EventEnvelope` — fields in number order, proto3 defaults omitted, the bytes of
 * protobuf-es's `toBinary` (the codec tests check byte equality for every event type and edge case) — and returns a
 * view of the shared slab (its `buffer` holds other envelopes too; its bytes never change). `data` is the event's
 * payload object. Positional arguments: both callers are per-event hot paths, and this allocates nothing but the view.
 */
export function writeEnvelopeView(
  eventId: string,
  position: number,
  streamId: string,
  streamVersion: number,
  type: OrderEventType,
  occurredAtMs: number,
  commandId: string,
  correlationId: string,
  causationId: string,
  traceparent: string | null | undefined,
  actor: string | null | undefined,
  data: unknown,
  schemaVersion = 1,
  unknownTypes: "throw" | "empty-case" = "throw",
): Uint8Array {
  const field = EVENT_CASE_FIELD[type];
  if (field === undefined && unknownTypes === "throw")
    throw new Error(`unknown order event type ${JSON.stringify(type)}`);
  const w = writer;
  const E = ENVELOPE;
  w.begin();
  w.string(E.eventId, eventId);
  w.int(E.position, safeInt(position, "position"));
  w.string(E.streamId, streamId);
  w.int(E.streamVersion, safeInt(streamVersion, "stream_version"));
  w.string(E.eventType, type);
  const seconds = Math.floor(occurredAtMs / 1000);
  w.fork(E.occurredAt);
  w.int(TIMESTAMP.seconds, seconds);
  w.int(TIMESTAMP.nanos, (occurredAtMs - seconds * 1000) * 1_000_000);
  w.join();
  w.string(E.commandId, commandId);
  w.string(E.correlationId, correlationId);
  w.string(E.causationId, causationId);
  w.string(E.traceparent, traceparent ?? "");
  w.string(E.orderId, orderIdOfStream(streamId));
  w.int(E.eventSchemaVersion, schemaVersion);
  w.string(E.actor, actor ?? "");
  // A type this release does not know (written by a newer one): event_type names it, the `event` case stays empty,
  // which is exactly what a consumer with older stubs sees (docs/events.md: skip and count).
  if (field === undefined) return w.finish();
  w.fork(field);
  switch (type) {
    case "OrderPlaced": {
      const d = data as OrderPlaced["data"];
      w.string(ORDER_PLACED.orderId, d.orderId);
      w.string(ORDER_PLACED.customerId, d.customerId);
      w.string(ORDER_PLACED.currency, d.currency);
      for (let i = 0; i < d.items.length; i++) {
        const item = d.items[i] as OrderPlaced["data"]["items"][number];
        w.fork(ORDER_PLACED.items);
        w.string(LINE_ITEM.sku, item.sku);
        w.int(LINE_ITEM.quantity, item.quantity);
        w.int(LINE_ITEM.unitPriceMinor, safeInt(item.unitPriceMinor, `order_placed.items[${i}].unit_price_minor`));
        w.join();
      }
      w.int(ORDER_PLACED.totalMinor, safeInt(d.totalMinor, "order_placed.total_minor"));
      break;
    }
    case "PaymentAuthorized":
    case "PaymentReceived":
    case "PaymentFailed":
    case "PaymentRefunded": {
      const d = data as PaymentData;
      w.int(PAYMENT.amountMinor, safeInt(d.amountMinor, "amount_minor"));
      w.string(PAYMENT.paymentReference, d.paymentReference);
      break;
    }
    case "OrderShipped": {
      const d = data as OrderShipped["data"];
      w.string(ORDER_SHIPPED.carrier, d.carrier);
      w.string(ORDER_SHIPPED.trackingNumber, d.trackingNumber);
      break;
    }
    case "OrderCancelled":
      w.string(ORDER_CANCELLED.reason, (data as OrderCancelled["data"]).reason);
      break;
    default: {
      const unknown: never = type;
      throw new Error(`unknown order event type ${JSON.stringify(unknown)}`);
    }
  }
  w.join();
  return w.finish();
}

/** The envelope of a recorded order event, as a standalone copy (not a view of the shared slab). */
export function writeEnvelope(event: RecordedEvent<OrderEvent>): Uint8Array {
  const m = event.metadata;
  return new Uint8Array(
    writeEnvelopeView(
      m.eventId,
      event.position,
      event.streamId,
      event.streamVersion,
      event.type as OrderEventType,
      m.occurredAt.getTime(),
      m.commandId,
      m.correlationId,
      m.causationId,
      m.traceparent,
      m.actor,
      event.data,
      event.schemaVersion ?? 1,
    ),
  );
}
