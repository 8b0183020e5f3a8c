import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type EventEnvelope, EventEnvelopeSchema } from "@orderly/contracts";
import { type RecordedEvent, ValidationError } from "@orderly/eventsourcing";
import { type OrderEvent, orderIdOfStream, type PaymentData } from "@orderly/orders-domain";
import { readEnvelope } from "./envelope-reader.js";
import { writeEnvelope } from "./envelope-writer.js";

/** The proto boundary is the only place positions, versions and amounts are int64. */
function toInt64(value: number, field: string): bigint {
  if (!Number.isSafeInteger(value)) throw new ValidationError(field, `not a safe integer: ${value}`);
  return BigInt(value);
}

function fromInt64(value: bigint, field: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new ValidationError(field, `int64 out of the safe integer range: ${value}`);
  return n;
}

/** The envelope's `event` oneof as `create` takes it: the case's message from a plain object of its fields. */
type EnvelopeEventInit = NonNullable<MessageInitShape<typeof EventEnvelopeSchema>["event"]>;

function toProtoEvent({ type, data }: OrderEvent): EnvelopeEventInit {
  switch (type) {
    case "OrderPlaced":
      return {
        case: "orderPlaced",
        value: {
          orderId: data.orderId,
          customerId: data.customerId,
          currency: data.currency,
          items: data.items.map((item, i) => ({
            sku: item.sku,
            quantity: item.quantity,
            unitPriceMinor: toInt64(item.unitPriceMinor, `order_placed.items[${i}].unit_price_minor`),
          })),
          totalMinor: toInt64(data.totalMinor, "order_placed.total_minor"),
        },
      };
    case "PaymentAuthorized":
      return { case: "paymentAuthorized", value: paymentInit(data) };
    case "PaymentReceived":
      return { case: "paymentReceived", value: paymentInit(data) };
    case "PaymentFailed":
      return { case: "paymentFailed", value: paymentInit(data) };
    case "PaymentRefunded":
      return { case: "paymentRefunded", value: paymentInit(data) };
    case "OrderShipped":
      return { case: "orderShipped", value: { carrier: data.carrier, trackingNumber: data.trackingNumber } };
    case "OrderCancelled":
      return { case: "orderCancelled", value: { reason: data.reason } };
    default: {
      const unknown: never = type;
      throw new ValidationError("event_type", `unknown order event type ${JSON.stringify(unknown)}`);
    }
  }
}

// The four payment events share one shape.
function paymentInit(d: PaymentData) {
  return { amountMinor: toInt64(d.amountMinor, "amount_minor"), paymentReference: d.paymentReference };
}

/** The protobuf EventEnvelope of a recorded order event (without serialising it). */
export function toEnvelope(event: RecordedEvent<OrderEvent>): EventEnvelope {
  const m = event.metadata;
  return create(EventEnvelopeSchema, {
    eventId: m.eventId,
    position: toInt64(event.position, "position"),
    streamId: event.streamId,
    streamVersion: toInt64(event.streamVersion, "stream_version"),
    eventType: event.type,
    occurredAt: timestampFromMs(m.occurredAt.getTime()),
    commandId: m.commandId,
    correlationId: m.correlationId,
    causationId: m.causationId,
    traceparent: m.traceparent ?? "",
    orderId: orderIdOfStream(event.streamId),
    eventSchemaVersion: event.schemaVersion ?? 1,
    actor: m.actor ?? "",
    event: toProtoEvent(event as OrderEvent),
  });
}

/** Serialises a recorded order event as `orderly.orders.v1.EventEnvelope` bytes. */
export function encodeEnvelope(event: RecordedEvent<OrderEvent>): Uint8Array {
  return writeEnvelope(event);
}

/** The same bytes through protobuf-es's reflective serialiser (the reference the fast path is tested against). */
export function encodeEnvelopeReflective(event: RecordedEvent<OrderEvent>): Uint8Array {
  return toBinary(EventEnvelopeSchema, toEnvelope(event));
}

function fromProtoEvent(envelope: EventEnvelope): OrderEvent {
  const e = envelope.event;
  let event: OrderEvent;
  switch (e.case) {
    case "orderPlaced":
      event = {
        type: "OrderPlaced",
        data: {
          orderId: e.value.orderId,
          customerId: e.value.customerId,
          currency: e.value.currency,
          items: e.value.items.map((item, i) => ({
            sku: item.sku,
            quantity: item.quantity,
            unitPriceMinor: fromInt64(item.unitPriceMinor, `order_placed.items[${i}].unit_price_minor`),
          })),
          totalMinor: fromInt64(e.value.totalMinor, "order_placed.total_minor"),
        },
      };
      break;
    case "paymentAuthorized":
    case "paymentReceived":
    case "paymentFailed":
    case "paymentRefunded": {
      const data: PaymentData = {
        amountMinor: fromInt64(e.value.amountMinor, `${e.case}.amount_minor`),
        paymentReference: e.value.paymentReference,
      };
      event = { type: paymentTypes[e.case], data };
      break;
    }
    case "orderShipped":
      event = { type: "OrderShipped", data: { carrier: e.value.carrier, trackingNumber: e.value.trackingNumber } };
      break;
    case "orderCancelled":
      event = { type: "OrderCancelled", data: { reason: e.value.reason } };
      break;
    case undefined:
      throw new ValidationError("event", "no event case is set");
    default: {
      const unknown: never = e;
      throw new ValidationError("event", `unknown event case ${JSON.stringify(unknown)}`);
    }
  }
  if (event.type !== envelope.eventType) {
    throw new ValidationError("event_type", `${JSON.stringify(envelope.eventType)} does not name the ${e.case} case`);
  }
  return event;
}

const paymentTypes = {
  paymentAuthorized: "PaymentAuthorized",
  paymentReceived: "PaymentReceived",
  paymentFailed: "PaymentFailed",
  paymentRefunded: "PaymentRefunded",
} as const;

/** The recorded order event of an envelope. `committedAt` is not in the envelope: pass the header, else occurredAt. */
export function fromEnvelope(envelope: EventEnvelope, committedAt?: Date): RecordedEvent<OrderEvent> {
  if (!envelope.occurredAt) throw new ValidationError("occurred_at", "missing");
  const occurredAt = new Date(timestampMs(envelope.occurredAt));
  const event = fromProtoEvent(envelope);
  return {
    type: event.type,
    data: event.data,
    streamId: envelope.streamId,
    streamVersion: fromInt64(envelope.streamVersion, "stream_version"),
    position: fromInt64(envelope.position, "position"),
    metadata: {
      eventId: envelope.eventId,
      commandId: envelope.commandId,
      correlationId: envelope.correlationId,
      causationId: envelope.causationId,
      occurredAt,
      ...(envelope.traceparent ? { traceparent: envelope.traceparent } : {}),
      ...(envelope.actor ? { actor: envelope.actor } : {}),
    },
    committedAt: committedAt ?? occurredAt,
    ...(envelope.eventSchemaVersion > 1 ? { schemaVersion: envelope.eventSchemaVersion } : {}),
  };
}

/** Minimal view of NATS message headers (`MsgHdrs` satisfies it). */
export interface HeaderReader {
  get(name: string): string;
}

/**
 * Parses `orderly.orders.v1.EventEnvelope` bytes into a recorded order event. With the message headers, `committedAt`
 * comes from `Orderly-Committed-At`; without them it falls back to `occurredAt`. Throws ValidationError on bytes that
 * are not a valid order event envelope. Hand-written (envelope-reader.ts); `decodeEnvelopeReflective` is the reference.
 */
export function decodeEnvelope(bytes: Uint8Array, messageHeaders?: HeaderReader): RecordedEvent<OrderEvent> {
  return readEnvelope(bytes, messageHeaders?.get("Orderly-Committed-At"));
}

/** The same through protobuf-es's `fromBinary` and `fromEnvelope`: the reference the fast path is tested against. */
export function decodeEnvelopeReflective(bytes: Uint8Array, messageHeaders?: HeaderReader): RecordedEvent<OrderEvent> {
  let envelope: EventEnvelope;
  try {
    envelope = fromBinary(EventEnvelopeSchema, bytes);
  } catch (error) {
    throw new ValidationError("envelope", `not an EventEnvelope: ${(error as Error).message}`);
  }
  const committedMs = messageHeaders?.get("Orderly-Committed-At");
  return fromEnvelope(envelope, committedMs ? new Date(Number(committedMs)) : undefined);
}
