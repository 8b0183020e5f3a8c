import { randomUUID } from "node:crypto";
import { type RecordedEvent, type StoredEventText, ValidationError } from "@orderly/eventsourcing";
import { type OrderEvent, orderEventTypes } from "@orderly/orders-domain";
import { describe, expect, it } from "vitest";
import { encodeEnvelope } from "./codec.js";
import { encodeStoredEnvelope } from "./stored-envelope-writer.js";
import { defaultValueEvents, longOrderPlaced, sampleOrderEvents, sampleRecorder } from "./test-samples.js";

const orderId = randomUUID();

const samples = sampleOrderEvents(orderId, { refund: { amountMinor: -5, paymentReference: "refund-1" } });

const recorded = sampleRecorder(orderId);

/**
 * The text form Postgres returns for the event's row. jsonb renders objects with its own key order and spacing
 * (`{"a": 1, "bb": 2}`), so the JSON text is not JSON.stringify's: both are tried.
 */
function storedText(event: RecordedEvent<OrderEvent>, json: (data: unknown) => string): StoredEventText {
  const m = event.metadata;
  return {
    position: String(event.position),
    eventId: m.eventId,
    streamId: event.streamId,
    streamVersion: String(event.streamVersion),
    type: event.type,
    data: json(event.data),
    commandId: m.commandId,
    correlationId: m.correlationId,
    causationId: m.causationId,
    traceparent: m.traceparent ?? null,
    actor: m.actor ?? null,
    schemaVersion: event.schemaVersion ?? 1,
    occurredAtMs: String(m.occurredAt.getTime()),
    committedAtMs: String(event.committedAt.getTime()),
  };
}

/** jsonb's rendering: keys ordered by length, then bytes; `", "` and `": "` separators. */
function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText((value as Record<string, unknown>)[k])}`).join(", ")}}`;
  }
  return JSON.stringify(value);
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function expectSameBytes(event: RecordedEvent<OrderEvent>): void {
  const reference = hex(encodeEnvelope(event));
  expect(hex(encodeStoredEnvelope(storedText(event, jsonbText)))).toBe(reference);
  expect(hex(encodeStoredEnvelope(storedText(event, (d) => JSON.stringify(d))))).toBe(reference);
}

describe("encodeStoredEnvelope", () => {
  it("covers every order event type", () => {
    expect(Object.keys(samples).sort()).toEqual([...orderEventTypes].sort());
  });

  for (const [i, type] of orderEventTypes.entries()) {
    it(`writes ${type} byte for byte as encodeEnvelope does, with and without traceparent and actor`, () => {
      expectSameBytes(
        recorded(samples[type], i + 1, {
          traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          actor: "svc-checkout",
        }),
      );
      expectSameBytes(recorded(samples[type], i + 1));
    });
  }

  it("treats an empty traceparent like none", () => {
    const event = recorded(samples.OrderShipped, 3);
    const reference = hex(encodeEnvelope(event));
    expect(hex(encodeStoredEnvelope({ ...storedText(event, jsonbText), traceparent: "" }))).toBe(reference);
  });

  it("matches on defaults, whole seconds, the epoch and times before it", () => {
    const cases = defaultValueEvents(orderId);
    for (const [i, sample] of cases.entries()) {
      for (const occurredAt of [new Date(0), new Date(Date.UTC(2026, 0, 1)), new Date(-1500), new Date(-1)]) {
        expectSameBytes(recorded(sample, i + 1, { occurredAt }));
      }
    }
  });

  it("matches on long and non-ASCII strings (either side of the one-byte length), many items, large numbers", () => {
    const event = recorded(longOrderPlaced(orderId), 123_456_789, { traceparent: "t".repeat(300) });
    expectSameBytes(event);
    for (const length of [40, 41, 42, 43, 63, 64, 127, 128]) {
      for (const unit of ["a", "é", "€", "😀"]) {
        const reference = unit.repeat(length).slice(0, length);
        expectSameBytes(recorded({ type: "OrderCancelled", data: { reason: reference } }, length));
      }
    }
  });

  it("keeps every envelope intact across slabs, and a failed envelope leaves nothing behind", () => {
    const events = Array.from({ length: 2_000 }, (_, i) =>
      recorded(i % 2 === 0 ? samples.OrderPlaced : { type: "OrderCancelled", data: { reason: "r".repeat(i) } }, i + 1),
    );
    const written = events.map((event) => encodeStoredEnvelope(storedText(event, jsonbText)));
    // More than one slab's worth (128 KiB): earlier views must not have been overwritten.
    expect(written.reduce((n, bytes) => n + bytes.length, 0)).toBeGreaterThan(1024 * 1024);
    for (const [i, event] of events.entries()) expect(hex(written[i] as Uint8Array)).toBe(hex(encodeEnvelope(event)));

    const before = encodeStoredEnvelope(storedText(events[0] as RecordedEvent<OrderEvent>, jsonbText));
    const beforeHex = hex(before);
    const bad = recorded({ type: "PaymentReceived", data: { amountMinor: 2 ** 60, paymentReference: "x" } }, 5);
    expect(() => encodeStoredEnvelope(storedText(bad, jsonbText))).toThrow(ValidationError);
    const after = recorded(samples.OrderShipped, 6);
    expect(hex(encodeStoredEnvelope(storedText(after, jsonbText)))).toBe(hex(encodeEnvelope(after)));
    expect(hex(before)).toBe(beforeHex);
  });

  it("refuses what encodeEnvelope refuses: unsafe integers, unknown types", () => {
    const event = recorded(samples.PaymentReceived, 1);
    const stored = storedText(event, jsonbText);
    expect(() => encodeStoredEnvelope({ ...stored, position: "9007199254740993" })).toThrow(ValidationError);
    expect(() => encodeStoredEnvelope({ ...stored, position: "1.5" })).toThrow(ValidationError);
    expect(() => encodeStoredEnvelope({ ...stored, type: "OrderLost" })).toThrow(/unknown order event type/);
  });
});
