import type { RecordedEvent } from "@orderly/eventsourcing";
import {
  type OrderCancelled,
  type OrderEvent,
  type OrderEventType,
  type OrderPlaced,
  type OrderShipped,
  orderIdOfStream,
  type PaymentData,
} from "@orderly/orders-domain";

// Field numbers of orderly.orders.v1.EventEnvelope (proto/orderly/orders/v1/events.proto).
const oneofField: Record<OrderEventType, number> = {
  OrderPlaced: 20,
  PaymentAuthorized: 21,
  PaymentReceived: 22,
  PaymentFailed: 23,
  PaymentRefunded: 24,
  OrderShipped: 25,
  OrderCancelled: 26,
};

const LEN = 2;
const VARINT = 0;

/**
 * A minimal protobuf writer over one reusable buffer: strings are written in place (no TextEncoder chunk per field),
 * nested messages reserve one length byte and shift their content in the rare case the length needs more.
 * protobuf-es's reflective `toBinary` costs ~25 µs per envelope and its BinaryWriter ~17 µs (TextEncoder, chunk
 * arrays, garbage): either alone would cap the relay well below the NATS ceiling.
 */
class Writer {
  buf = Buffer.allocUnsafe(16 * 1024);
  pos = 0;
  readonly #forks: number[] = [];

  reset(): void {
    this.pos = 0;
    this.#forks.length = 0;
  }

  #ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  varint(value: number): void {
    this.#ensure(10);
    const buf = this.buf;
    let v = value;
    while (v > 0x7f) {
      buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[this.pos++] = v;
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** int64/int32 as a varint; negative values as their 64-bit two's complement (10 bytes), like protobuf. */
  int(field: number, value: number): void {
    if (value === 0) return;
    this.tag(field, VARINT);
    if (value > 0) {
      this.varint(value);
      return;
    }
    this.#ensure(10);
    let v = BigInt.asUintN(64, BigInt(value));
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  string(field: number, value: string): void {
    if (value === "") return;
    this.tag(field, LEN);
    const length = Buffer.byteLength(value, "utf8");
    this.varint(length);
    this.#ensure(length);
    this.buf.write(value, this.pos, length, "utf8");
    this.pos += length;
  }

  fork(field: number): void {
    this.tag(field, LEN);
    this.#ensure(1);
    this.#forks.push(this.pos);
    this.pos += 1;
  }

  join(): void {
    const start = this.#forks.pop() as number;
    const length = this.pos - start - 1;
    if (length < 0x80) {
      this.buf[start] = length;
      return;
    }
    let size = 1;
    for (let v = length; v > 0x7f; v = Math.floor(v / 128)) size++;
    this.#ensure(size - 1);
    this.buf.copyWithin(start + size, start + 1, this.pos);
    this.pos = start;
    this.varint(length);
    this.pos = start + size + length;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }
}

const writer = new Writer();

/**
 * The bytes of `toBinary(EventEnvelopeSchema, toEnvelope(event))` — fields in number order, proto3 defaults omitted —
 * written directly (the codec tests check byte equality with protobuf-es for every event type and edge case).
 */
export function writeEnvelope(
  event: RecordedEvent<OrderEvent>,
  safeInt: (value: number, field: string) => number,
): Uint8Array {
  const m = event.metadata;
  const type = event.type as OrderEventType;
  const field = oneofField[type];
  if (field === undefined) throw new Error(`unknown order event type ${JSON.stringify(type)}`);
  const w = writer;
  w.reset();
  w.string(1, m.eventId);
  w.int(2, safeInt(event.position, "position"));
  w.string(3, event.streamId);
  w.int(4, safeInt(event.streamVersion, "stream_version"));
  w.string(5, event.type);
  const ms = m.occurredAt.getTime();
  const seconds = Math.floor(ms / 1000);
  w.fork(6);
  w.int(1, seconds);
  w.int(2, (ms - seconds * 1000) * 1_000_000);
  w.join();
  w.string(7, m.commandId);
  w.string(8, m.correlationId);
  w.string(9, m.causationId);
  w.string(10, m.traceparent ?? "");
  w.string(11, orderIdOfStream(event.streamId));
  w.fork(field);
  switch (type) {
    case "OrderPlaced": {
      const d = event.data as OrderPlaced["data"];
      w.string(1, d.orderId);
      w.string(2, d.customerId);
      w.string(3, d.currency);
      for (let i = 0; i < d.items.length; i++) {
        const item = d.items[i] as OrderPlaced["data"]["items"][number];
        w.fork(4);
        w.string(1, item.sku);
        w.int(2, item.quantity);
        w.int(3, safeInt(item.unitPriceMinor, `order_placed.items[${i}].unit_price_minor`));
        w.join();
      }
      w.int(5, safeInt(d.totalMinor, "order_placed.total_minor"));
      break;
    }
    case "PaymentAuthorized":
    case "PaymentReceived":
    case "PaymentFailed":
    case "PaymentRefunded": {
      const d = event.data as PaymentData;
      w.int(1, safeInt(d.amountMinor, "amount_minor"));
      w.string(2, d.paymentReference);
      break;
    }
    case "OrderShipped": {
      const d = event.data as OrderShipped["data"];
      w.string(1, d.carrier);
      w.string(2, d.trackingNumber);
      break;
    }
    case "OrderCancelled":
      w.string(1, (event.data as OrderCancelled["data"]).reason);
      break;
    default: {
      const unknown: never = type;
      throw new Error(`unknown order event type ${JSON.stringify(unknown)}`);
    }
  }
  w.join();
  return w.finish();
}
