import { randomUUID } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type EventEnvelope, EventEnvelopeSchema } from "@orderly/contracts";
import { ValidationError } from "@orderly/eventsourcing";
import { orderEventTypes } from "@orderly/orders-domain";
import { describe, expect, it } from "vitest";
import { decodeEnvelope, encodeEnvelope, encodeEnvelopeReflective } from "./codec.js";
import { defaultValueEvents, longOrderPlaced, sampleOrderEvents, sampleRecorder } from "./test-samples.js";

const orderId = randomUUID();

const samples = sampleOrderEvents(orderId);

const recorded = sampleRecorder(orderId);

const headersOf = (committedAt: Date) => ({
  get: (name: string) => (name === "Orderly-Committed-At" ? String(committedAt.getTime()) : ""),
});

describe("EventEnvelope codec", () => {
  it("covers every order event type", () => {
    expect(Object.keys(samples).sort()).toEqual([...orderEventTypes].sort());
  });

  for (const [i, type] of orderEventTypes.entries()) {
    it(`round-trips ${type}`, () => {
      const event = recorded(samples[type], i + 1, {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        actor: "svc-checkout",
      });
      const bytes = encodeEnvelope(event);
      expect(decodeEnvelope(bytes, headersOf(event.committedAt))).toEqual(event);
    });

    it(`writes ${type} byte for byte as protobuf-es's reflective serialiser does`, () => {
      const event = recorded(samples[type], i + 1, {
        traceparent: i % 2 === 0 ? "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" : undefined,
        actor: i % 3 === 0 ? "x509:CN=svc-checkout,O=Orderly Ünïcode" : undefined,
      });
      expect(Buffer.from(encodeEnvelope(event)).toString("hex")).toBe(
        Buffer.from(encodeEnvelopeReflective(event)).toString("hex"),
      );
    });
  }

  it("maps the envelope fields and the oneof case as the proto says", () => {
    const event = recorded(samples.PaymentReceived, 7);
    const envelope = fromBinary(EventEnvelopeSchema, encodeEnvelope(event));
    expect(envelope.eventId).toBe(event.metadata.eventId);
    expect(envelope.position).toBe(BigInt(event.position));
    expect(envelope.streamVersion).toBe(7n);
    expect(envelope.eventType).toBe("PaymentReceived");
    expect(envelope.orderId).toBe(orderId);
    expect(envelope.traceparent).toBe("");
    expect(envelope.event.case).toBe("paymentReceived");
    expect(envelope.event.value).toMatchObject({ amountMinor: 3750n, paymentReference: "pay-1" });
  });

  it("leaves traceparent and actor out of the metadata when none came in", () => {
    const event = recorded(samples.OrderCancelled, 2);
    const decoded = decodeEnvelope(encodeEnvelope(event), headersOf(event.committedAt));
    expect(decoded).toEqual(event);
    expect("traceparent" in decoded.metadata).toBe(false);
    expect("actor" in decoded.metadata).toBe(false);
  });

  it("carries the audit identity in EventEnvelope.actor (field 13)", () => {
    const event = recorded(samples.OrderPlaced, 1, { actor: "svc-checkout" });
    const envelope = fromBinary(EventEnvelopeSchema, encodeEnvelope(event));
    expect(envelope.actor).toBe("svc-checkout");
    expect(decodeEnvelope(encodeEnvelope(event), headersOf(event.committedAt)).metadata.actor).toBe("svc-checkout");
  });

  it("carries the payload's schema version in EventEnvelope.event_schema_version (field 12): 1 by default", () => {
    const v1 = recorded(samples.OrderShipped, 1);
    expect(fromBinary(EventEnvelopeSchema, encodeEnvelope(v1)).eventSchemaVersion).toBe(1);
    const v3 = { ...recorded(samples.OrderShipped, 2), schemaVersion: 3 };
    const bytes = encodeEnvelope(v3);
    // The hand-written writer writes what protobuf-es writes, and both readers agree.
    expect(bytes).toEqual(encodeEnvelopeReflective(v3));
    expect(fromBinary(EventEnvelopeSchema, bytes).eventSchemaVersion).toBe(3);
    expect(decodeEnvelope(bytes, headersOf(v3.committedAt))).toEqual(v3);
    // Version 1 stays out of the decoded event, as it always was; an envelope from before the field reads as 1.
    expect("schemaVersion" in decodeEnvelope(encodeEnvelope(v1), headersOf(v1.committedAt))).toBe(false);
    const old = toBinary(EventEnvelopeSchema, {
      ...fromBinary(EventEnvelopeSchema, encodeEnvelope(v1)),
      eventSchemaVersion: 0,
    });
    expect(decodeEnvelope(old, headersOf(v1.committedAt))).toEqual(v1);
  });

  it("falls back to occurredAt for committedAt without headers", () => {
    const event = recorded(samples.OrderShipped, 3);
    expect(decodeEnvelope(encodeEnvelope(event)).committedAt).toEqual(event.metadata.occurredAt);
  });

  it("rejects garbage, an envelope without an event, and a type that does not name the case", () => {
    expect(() => decodeEnvelope(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(ValidationError);
    const event = recorded(samples.OrderShipped, 3);
    const envelope = fromBinary(EventEnvelopeSchema, encodeEnvelope(event));
    envelope.eventType = "OrderCancelled";
    expect(() => decodeEnvelope(toBytes(envelope))).toThrow(/does not name/);
    envelope.event = { case: undefined };
    expect(() => decodeEnvelope(toBytes(envelope))).toThrow(/no event case/);
  });

  it("matches the reflective serialiser on defaults: zero amounts, empty strings, whole-second times, epoch", () => {
    const cases = defaultValueEvents(orderId);
    for (const [i, sample] of cases.entries()) {
      const base = recorded(sample, i + 1);
      for (const occurredAt of [new Date(0), new Date(Date.UTC(2026, 0, 1)), new Date(-1500)]) {
        const event = { ...base, metadata: { ...base.metadata, occurredAt } };
        expect(Buffer.from(encodeEnvelope(event)).equals(Buffer.from(encodeEnvelopeReflective(event)))).toBe(true);
        expect(decodeEnvelope(encodeEnvelope(event)).metadata.occurredAt).toEqual(occurredAt);
      }
    }
  });

  it("matches the reflective serialiser on long and non-ASCII strings, many items, negative and large numbers", () => {
    const event = recorded(longOrderPlaced(orderId), 123_456_789);
    const long = { ...event, metadata: { ...event.metadata, traceparent: "t".repeat(300) } };
    expect(Buffer.from(encodeEnvelope(long)).equals(Buffer.from(encodeEnvelopeReflective(long)))).toBe(true);
    expect(decodeEnvelope(encodeEnvelope(long), headersOf(long.committedAt))).toEqual(long);
    const refund = recorded(
      { type: "PaymentRefunded", data: { amountMinor: -5, paymentReference: "é".repeat(200) } },
      9,
    );
    expect(Buffer.from(encodeEnvelope(refund)).equals(Buffer.from(encodeEnvelopeReflective(refund)))).toBe(true);
    expect(decodeEnvelope(encodeEnvelope(refund), headersOf(refund.committedAt))).toEqual(refund);
  });

  it("rejects numbers that do not fit the safe integer range", () => {
    const bad = recorded(samples.PaymentReceived, 1);
    expect(() => encodeEnvelope({ ...bad, position: 1.5 })).toThrow(ValidationError);
    const envelope = fromBinary(EventEnvelopeSchema, encodeEnvelope(bad));
    envelope.position = 2n ** 60n;
    expect(() => decodeEnvelope(toBytes(envelope))).toThrow(/safe integer/);
  });
});

function toBytes(envelope: EventEnvelope): Uint8Array {
  return toBinary(EventEnvelopeSchema, envelope);
}
