// Sample events for the codec, writer and reader tests (not built into dist: see tsconfig.build.json).
import { randomUUID } from "node:crypto";
import type { EventMetadata, RecordedEvent } from "@orderly/eventsourcing";
import { type OrderEvent, type OrderEventType, orderEventTypes } from "@orderly/orders-domain";

export interface SampleEdges {
  /** The second line item's SKU (default "SKU-2"). */
  readonly secondSku?: string;
  /** The refund's amount and reference (default 3750, "refund-1"). */
  readonly refund?: { readonly amountMinor: number; readonly paymentReference: string };
}

/** One event of every order event type, with the edges an encoder must carry (non-ASCII, 2^53 - 1, empty strings). */
export function sampleOrderEvents(orderId: string, edges: SampleEdges = {}): Record<OrderEventType, OrderEvent> {
  return {
    OrderPlaced: {
      type: "OrderPlaced",
      data: {
        orderId,
        customerId: "customer-ä-1",
        currency: "EUR",
        items: [
          { sku: "SKU-1", quantity: 3, unitPriceMinor: 1250 },
          { sku: edges.secondSku ?? "SKU-2", quantity: 10_000, unitPriceMinor: 0 },
          { sku: "BIG", quantity: 1, unitPriceMinor: Number.MAX_SAFE_INTEGER - 3750 },
        ],
        totalMinor: Number.MAX_SAFE_INTEGER,
      },
    },
    PaymentAuthorized: { type: "PaymentAuthorized", data: { amountMinor: 3750, paymentReference: "auth-1" } },
    PaymentReceived: { type: "PaymentReceived", data: { amountMinor: 3750, paymentReference: "pay-1" } },
    PaymentFailed: { type: "PaymentFailed", data: { amountMinor: 0, paymentReference: "" } },
    PaymentRefunded: {
      type: "PaymentRefunded",
      data: edges.refund ?? { amountMinor: 3750, paymentReference: "refund-1" },
    },
    OrderShipped: { type: "OrderShipped", data: { carrier: "DHL", trackingNumber: "00340434161094042557" } },
    OrderCancelled: { type: "OrderCancelled", data: { reason: "customer changed their mind" } },
  };
}

/** Events whose fields are protobuf defaults (zero, empty), which a writer must leave out as the reflective one does. */
export function defaultValueEvents(orderId: string): OrderEvent[] {
  return [
    { type: "PaymentFailed", data: { amountMinor: 0, paymentReference: "" } },
    { type: "OrderCancelled", data: { reason: "" } },
    { type: "OrderShipped", data: { carrier: "", trackingNumber: "" } },
    {
      type: "OrderPlaced",
      data: {
        orderId,
        customerId: "c",
        currency: "EUR",
        items: [{ sku: "s", quantity: 1, unitPriceMinor: 0 }],
        totalMinor: 0,
      },
    },
  ];
}

/** An order with 100 line items, long and non-ASCII strings and a total above 2^52. */
export function longOrderPlaced(orderId: string): OrderEvent {
  const items = Array.from({ length: 100 }, (_, i) => ({
    sku: `SKU-ü-${"x".repeat(i)}`,
    quantity: 10_000 - i,
    unitPriceMinor: i * 1_000_003,
  }));
  return {
    type: "OrderPlaced",
    data: { orderId, customerId: "😀".repeat(64), currency: "JPY", items, totalMinor: 2 ** 52 + 1 },
  };
}

export interface RecordedOptions {
  readonly traceparent?: string | undefined;
  readonly actor?: string | undefined;
  readonly occurredAt?: Date;
}

/**
 * Records events of order `orderId` as the store returns them: version `position`, global position
 * `position * 1_000_003`, fresh ids, times derived from the position (so each event differs).
 */
export function sampleRecorder(orderId: string) {
  return (event: OrderEvent, position: number, options: RecordedOptions = {}): RecordedEvent<OrderEvent> => {
    const commandId = randomUUID();
    return {
      type: event.type,
      data: event.data,
      streamId: `order-${orderId}`,
      streamVersion: position,
      position: position * 1_000_003,
      metadata: {
        eventId: randomUUID(),
        commandId,
        correlationId: randomUUID(),
        causationId: commandId,
        occurredAt: options.occurredAt ?? new Date(Date.UTC(2026, 10, 26, 6, 0, 0, 123) + position),
        ...(options.traceparent !== undefined ? { traceparent: options.traceparent } : {}),
        ...(options.actor !== undefined ? { actor: options.actor } : {}),
      },
      committedAt: new Date(Date.UTC(2026, 10, 26, 6, 0, 1, 456) + position),
    };
  };
}

// ---- random events (seeded by the caller, so a failure reproduces) ----

const alphabet = ["a", "Z", "0", "-", " ", "é", "ß", "€", "中", "😀", "\uFEFF", "\u0000", "~"];
const sampleTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function randomString(random: () => number, max = 40): string {
  const length = Math.floor(random() * random() * max);
  let out = "";
  for (let i = 0; i < length; i++) {
    out += random() < 0.8 ? String.fromCharCode(32 + Math.floor(random() * 95)) : alphabet[Math.floor(random() * 13)];
  }
  return out;
}

/** Zero, negative, 2^53 - 1 and everything between, in a safe integer. */
function randomInt(random: () => number): number {
  const r = random();
  if (r < 0.1) return 0;
  if (r < 0.2) return -Math.floor(random() * 2 ** (1 + Math.floor(random() * 53)));
  if (r < 0.25) return Number.MAX_SAFE_INTEGER;
  return Math.floor(random() * 2 ** (1 + Math.floor(random() * 53)));
}

/**
 * A random recorded order event of any type: random strings (non-ASCII, NUL, a byte order mark, long), random safe
 * integers of every size and sign, pre-epoch times, absent and odd traceparents and actors, non-order stream ids.
 */
export function randomOrderEvent(random: () => number): RecordedEvent<OrderEvent> {
  const type = orderEventTypes[Math.floor(random() * orderEventTypes.length)] as OrderEventType;
  let event: OrderEvent;
  switch (type) {
    case "OrderPlaced":
      event = {
        type,
        data: {
          orderId: random() < 0.9 ? randomUUID() : randomString(random),
          customerId: randomString(random),
          currency: randomString(random, 4),
          items: Array.from({ length: Math.floor(random() * 5) }, () => ({
            sku: randomString(random),
            quantity: Math.floor(random() * 20_000) - 10_000,
            unitPriceMinor: randomInt(random),
          })),
          totalMinor: randomInt(random),
        },
      };
      break;
    case "OrderShipped":
      event = { type, data: { carrier: randomString(random), trackingNumber: randomString(random) } };
      break;
    case "OrderCancelled":
      event = { type, data: { reason: randomString(random, 200) } };
      break;
    default:
      event = { type, data: { amountMinor: randomInt(random), paymentReference: randomString(random) } };
  }
  const tp = random() < 0.5 ? sampleTraceparent : random() < 0.5 ? undefined : randomString(random, 80);
  const actor = random() < 0.5 ? undefined : randomString(random, 60);
  const occurredAt = new Date(Math.floor((random() - 0.3) * 4e12));
  const position = randomInt(random);
  const streamVersion = randomInt(random);
  const streamId = random() < 0.9 ? `order-${randomUUID()}` : randomString(random);
  return recordWithRandomIds(event, {
    streamId,
    streamVersion,
    position,
    occurredAt,
    traceparent: tp,
    actor: actor || undefined,
  });
}

/** Where and when an event was recorded, and with which trace and actor. */
export type RecordedAt = Pick<RecordedEvent, "streamId" | "streamVersion" | "position"> &
  Pick<EventMetadata, "occurredAt" | "traceparent" | "actor">;

/** `event` recorded `at` with fresh random ids (none related to another), committed when it occurred. */
export function recordWithRandomIds(event: OrderEvent, at: RecordedAt): RecordedEvent<OrderEvent> {
  return {
    type: event.type,
    data: event.data,
    streamId: at.streamId,
    streamVersion: at.streamVersion,
    position: at.position,
    metadata: {
      eventId: randomUUID(),
      commandId: randomUUID(),
      correlationId: randomUUID(),
      causationId: randomUUID(),
      occurredAt: at.occurredAt,
      ...(at.traceparent !== undefined ? { traceparent: at.traceparent } : {}),
      ...(at.actor !== undefined ? { actor: at.actor } : {}),
    },
    committedAt: at.occurredAt,
  };
}
