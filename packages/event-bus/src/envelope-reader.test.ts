import { toBinary } from "@bufbuild/protobuf";
import { EventEnvelopeSchema } from "@orderly/contracts";
import { type RecordedEvent, ValidationError } from "@orderly/eventsourcing";
import { seededRandom } from "@orderly/eventsourcing/testing";
import { type OrderEvent, type OrderPlaced, orderEventTypes } from "@orderly/orders-domain";
import { describe, expect, it } from "vitest";
import { decodeEnvelope, decodeEnvelopeReflective, encodeEnvelope, toEnvelope } from "./codec.js";
import { randomOrderEvent, recordWithRandomIds, sampleOrderEvents } from "./test-samples.js";
import { bytesOf, group, int, key, len, mutate, shuffle, str, unknownFields } from "./test-wire.js";

// ---- both decoders, compared on results and errors ----

type Outcome = { ok: true; value: unknown } | { ok: false; field: string; message: string; error: unknown };

/** Dates as their time value (two invalid dates are equal here), everything else as is. */
function plain(value: unknown): unknown {
  if (value instanceof Date) return { date: String(value.getTime()) };
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function outcome(decode: () => RecordedEvent<OrderEvent>): Outcome {
  try {
    return { ok: true, value: plain(decode()) };
  } catch (error) {
    if (!(error instanceof ValidationError)) return { ok: false, field: "(not a ValidationError)", message: "", error };
    return { ok: false, field: error.field, message: error.message, error };
  }
}

const committedHeader = { get: (name: string) => (name === "Orderly-Committed-At" ? "1764136801456" : "") };

function both(bytes: Uint8Array, headers?: typeof committedHeader) {
  return {
    fast: outcome(() => decodeEnvelope(bytes, headers)),
    reference: outcome(() => decodeEnvelopeReflective(bytes, headers)),
  };
}

/** Same result, or the same ValidationError (same field; same message unless both are about malformed bytes). */
function expectSame(bytes: Uint8Array, headers?: typeof committedHeader): Outcome {
  const { fast, reference } = both(bytes, headers);
  if (reference.ok) {
    expect(fast).toStrictEqual(reference);
  } else {
    expect(fast.ok).toBe(false);
    if (!fast.ok) {
      expect(fast.field).toBe(reference.field);
      if (reference.field !== "envelope") expect(fast.message).toBe(reference.message);
    }
  }
  return reference;
}

// ---- sample events ----

const orderId = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const samples = sampleOrderEvents(orderId, {
  secondSku: "SKU-€",
  refund: { amountMinor: -5, paymentReference: "refund-😀" },
});

function recorded(
  event: OrderEvent,
  options: { position?: number; streamVersion?: number; traceparent?: string; actor?: string; occurredAt?: Date } = {},
): RecordedEvent<OrderEvent> {
  return recordWithRandomIds(event, {
    streamId: `order-${orderId}`,
    streamVersion: options.streamVersion ?? 3,
    position: options.position ?? 1_000_003,
    occurredAt: options.occurredAt ?? new Date(Date.UTC(2026, 10, 26, 6, 0, 0, 123)),
    traceparent: options.traceparent,
    actor: options.actor,
  });
}

/** The envelope's fields as separate wire chunks (so a test can reorder, repeat and interleave them). */
function chunks(event: RecordedEvent<OrderEvent>): number[][] {
  const bytes = toBinary(EventEnvelopeSchema, toEnvelope(event));
  const out: number[][] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    let tag = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++] as number;
      tag |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    if ((tag & 7) === 0) {
      while ((bytes[at++] as number) >= 0x80);
    } else {
      let n = 0;
      for (let shift = 0; ; shift += 7) {
        const b = bytes[at++] as number;
        n += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) break;
      }
      at += n;
    }
    out.push([...bytes.subarray(start, at)]);
  }
  return out;
}

describe("hand-written EventEnvelope reader vs protobuf-es", () => {
  for (const type of orderEventTypes) {
    it(`decodes ${type} as the reflective path does, with and without traceparent, actor and headers`, () => {
      for (const tp of [traceparent, undefined]) {
        const event = recorded(samples[type], { traceparent: tp, ...(tp ? { actor: "svc-checkout" } : {}) });
        const bytes = encodeEnvelope(event);
        const withHeaders = expectSame(bytes, committedHeader);
        const without = expectSame(bytes);
        expect(withHeaders.ok && without.ok).toBe(true);
        const decoded = decodeEnvelope(bytes);
        expect(decoded).toEqual(event);
        expect("traceparent" in decoded.metadata).toBe(tp !== undefined);
        expect(decoded.metadata.actor).toBe(tp ? "svc-checkout" : undefined);
        expect(decodeEnvelope(bytes, committedHeader).committedAt).toEqual(new Date(1764136801456));
      }
    });
  }

  it("agrees on zero values, empty strings, epoch and pre-epoch times, large and negative numbers", () => {
    const cases: RecordedEvent<OrderEvent>[] = [
      recorded({ type: "PaymentFailed", data: { amountMinor: 0, paymentReference: "" } }, { position: 0 }),
      recorded({ type: "OrderCancelled", data: { reason: "" } }, { streamVersion: 0, occurredAt: new Date(0) }),
      recorded({ type: "OrderShipped", data: { carrier: "", trackingNumber: "" } }, { occurredAt: new Date(-1500) }),
      recorded(
        { type: "PaymentRefunded", data: { amountMinor: -Number.MAX_SAFE_INTEGER, paymentReference: "r" } },
        { position: Number.MAX_SAFE_INTEGER, streamVersion: Number.MAX_SAFE_INTEGER },
      ),
      recorded({ type: "PaymentReceived", data: { amountMinor: 2 ** 49, paymentReference: "p" } }, { position: -7 }),
      recorded(
        {
          type: "OrderPlaced",
          data: { orderId: "", customerId: "", currency: "", items: [], totalMinor: 0 },
        },
        { traceparent: "" },
      ),
      recorded({
        type: "OrderPlaced",
        data: {
          orderId,
          customerId: "😀".repeat(64),
          currency: "JPY",
          items: Array.from({ length: 50 }, (_, i) => ({
            sku: `SKU-ü-${"x".repeat(i * 3)}`,
            quantity: i - 25,
            unitPriceMinor: i * 1_000_003 - 7,
          })),
          totalMinor: 2 ** 52 + 1,
        },
      }),
    ];
    for (const event of cases) {
      const bytes = encodeEnvelope(event);
      expect(expectSame(bytes).ok).toBe(true);
      const { traceparent: tp, ...metadata } = event.metadata;
      // An empty traceparent is not written, and reads back as none.
      expect(decodeEnvelope(bytes)).toEqual(tp === "" ? { ...event, metadata } : event);
    }
  });

  it("reads multi-byte UTF-8 of every length, and drops a leading byte order mark as protobuf-es does", () => {
    for (const reason of ["é", "€uro", "𝄞 clef", "mixed ascii é € 😀 end", "\uFEFFbom first", "no \uFEFF bom inside"]) {
      const bytes = encodeEnvelope(recorded({ type: "OrderCancelled", data: { reason } }));
      expectSame(bytes);
    }
    const bom = encodeEnvelope(recorded({ type: "OrderCancelled", data: { reason: "\uFEFFx" } }));
    expect((decodeEnvelope(bom).data as { reason: string }).reason).toBe("x");
  });

  it("accepts fields in any order, keeps the last of a repeated scalar, merges a repeated message", () => {
    const event = recorded(samples.OrderPlaced, { traceparent });
    const parts = chunks(event);
    expect(expectSame(bytesOf([...parts].reverse())).ok).toBe(true);
    expect(decodeEnvelope(bytesOf([...parts].reverse()))).toEqual(event);

    // Repeated scalars: the earlier values lose.
    const repeated = bytesOf([int(2, 5), str(1, "first"), str(5, "PaymentReceived"), ...parts, int(4, 1)]);
    expectSame(repeated);
    expect(decodeEnvelope(repeated).streamVersion).toBe(1);
    expect(decodeEnvelope(repeated).position).toBe(event.position);
    expect(decodeEnvelope(repeated).metadata.eventId).toBe(event.metadata.eventId);

    // occurred_at twice: merged field by field (only nanos in the second).
    const merged = bytesOf([...parts, len(6, int(2, 500_000_000))]);
    expectSame(merged);
    expect(decodeEnvelope(merged).metadata.occurredAt).toEqual(new Date(Date.UTC(2026, 10, 26, 6, 0, 0, 500)));

    // The oneof twice with the same case: merged (items appended, scalars replaced).
    const more = bytesOf([...parts, len(20, [...len(4, [...str(1, "EXTRA"), ...int(2, 2)]), ...int(5, 77)])]);
    expectSame(more);
    const placed = decodeEnvelope(more).data as OrderPlaced["data"];
    expect(placed.items).toHaveLength(4);
    expect(placed.totalMinor).toBe(77);
    expect(placed.customerId).toBe("customer-ä-1");

    // Another case after it replaces it (and then event_type must name the new case).
    const switched = bytesOf([...parts, len(22, [...int(1, 9), ...str(2, "p")]), str(5, "PaymentReceived")]);
    expectSame(switched);
    expect(decodeEnvelope(switched).data).toEqual({ amountMinor: 9, paymentReference: "p" });
  });

  it("skips unknown fields of every wire type at every level", () => {
    const event = recorded(samples.OrderPlaced, { traceparent });
    const unknown = unknownFields();
    const item = [...str(1, "SKU-U"), ...unknown.flat(), ...int(2, 4), ...int(3, 100)];
    const placed = [
      ...str(1, orderId),
      ...unknown.flat(),
      ...len(4, item),
      ...str(2, "c"),
      ...str(3, "EUR"),
      ...int(5, 400),
    ];
    const parts = chunks(event).filter((c) => c[0] !== 0xa2 && c[0] !== 0x32); // without OrderPlaced and time
    const bytes = bytesOf([
      ...unknown,
      ...parts.slice(0, 5),
      len(6, [...int(1, 1764136800), ...unknown.flat(), ...int(2, 7_000_000)]),
      ...unknown,
      ...parts.slice(5),
      len(20, placed),
      ...unknown,
    ]);
    expect(expectSame(bytes).ok).toBe(true);
    const decoded = decodeEnvelope(bytes);
    expect(decoded.data).toEqual({
      orderId,
      customerId: "c",
      currency: "EUR",
      items: [{ sku: "SKU-U", quantity: 4, unitPriceMinor: 100 }],
      totalMinor: 400,
    });
    expect(decoded.metadata.occurredAt).toEqual(new Date(1764136800007));

    // Nested groups: skipped up to protobuf-es's recursion limit, rejected beyond it, by both.
    const nest = (depth: number): number[] => (depth === 0 ? [] : group(17, nest(depth - 1)));
    const valid = chunks(recorded(samples.OrderCancelled));
    expect(expectSame(bytesOf([...valid, nest(60)])).ok).toBe(true);
    expect(expectSame(bytesOf([...valid, nest(150)])).ok).toBe(false);
    for (let depth = 95; depth <= 102; depth++) expectSame(bytesOf([...valid, nest(depth)]));
    for (let depth = 95; depth <= 102; depth++) expectSame(bytesOf([...valid, len(26, nest(depth))]));
  });

  it("rejects what the reference rejects, with the same field and message", () => {
    const event = recorded(samples.PaymentReceived);
    const parts = chunks(event);
    const withoutTime = parts.filter((c) => c[0] !== 0x32);
    const withoutCase = parts.filter((c) => c[0] !== 0xb2);
    const rejected: [string, Uint8Array][] = [
      ["garbage", new Uint8Array([0xff, 0xff, 0xff])],
      ["field number 0", new Uint8Array([0x00, 0x01])],
      ["wire type 6", new Uint8Array([0x0e])],
      ["wire type 7", new Uint8Array([0x0f])],
      ["an unknown end group", new Uint8Array([0x7c])],
      ["a group without its end", bytesOf([...parts, [...key(17, 3), ...int(1, 1)]])],
      ["a group closed by another field number", bytesOf([...parts, [...key(17, 3), ...key(18, 4)]])],
      ["a tag over 5 bytes", new Uint8Array([0x88, 0x80, 0x80, 0x80, 0x80, 0x00])],
      ["a 5-byte tag over uint32", new Uint8Array([0x88, 0x80, 0x80, 0x80, 0x10])],
      ["a varint over 10 bytes", bytesOf([[0x10, ...Array(10).fill(0xff), 0x01], ...parts])],
      ["a string past the end", new Uint8Array([0x0a, 0x05, 0x41])],
      ["invalid UTF-8", bytesOf([...parts, [0x0a, 0x02, 0xc3, 0x28]])],
      ["a UTF-8 surrogate", bytesOf([...parts, [0x0a, 0x03, 0xed, 0xa0, 0x80]])],
      ["an overlong UTF-8 form", bytesOf([...parts, [0x0a, 0x02, 0xc0, 0xaf]])],
      ["a skipped fixed64 past the end", new Uint8Array([...key(99, 1), 1, 2, 3])],
      ["a skipped length past the end", new Uint8Array([...key(99, 2), 9, 1])],
      ["no occurred_at", bytesOf(withoutTime)],
      ["no event case", bytesOf(withoutCase)],
      ["an event_type not naming the case", bytesOf([...parts, str(5, "OrderShipped")])],
      ["an unknown event_type", bytesOf([...parts, str(5, "Nope")])],
      ["position 2^53", bytesOf([...parts, int(2, 2n ** 53n)])],
      ["position -2^53", bytesOf([...parts, int(2, -(2n ** 53n))])],
      ["position 2^63-1", bytesOf([...parts, int(2, 2n ** 63n - 1n)])],
      ["position -2^63", bytesOf([...parts, int(2, -(2n ** 63n))])],
      ["stream_version 2^60", bytesOf([...parts, int(4, 2n ** 60n)])],
      ["an amount 2^53", bytesOf([...withoutCase, len(22, int(1, 2n ** 53n))])],
      [
        "a unit price -2^62",
        bytesOf([
          ...parts.filter((c) => c[0] !== 0xb2 && c[0] !== 0x2a),
          str(5, "OrderPlaced"),
          len(20, [...len(4, int(3, 1)), ...len(4, int(3, -(2n ** 62n))), ...int(5, 2n ** 60n)]),
        ]),
      ],
    ];
    for (const [what, bytes] of rejected) {
      const { fast, reference } = both(bytes);
      expect(reference.ok, what).toBe(false);
      expect(fast.ok, what).toBe(false);
      if (!fast.ok && !reference.ok) {
        expect(fast.field, what).toBe(reference.field);
        if (reference.field !== "envelope") expect(fast.message, what).toBe(reference.message);
        expect(fast.error, what).toBeInstanceOf(ValidationError);
      }
    }
    // The message names the case and the field as the reference does.
    expect(() => decodeEnvelope(bytesOf([...parts, int(2, 2n ** 60n)]))).toThrow(
      "position: int64 out of the safe integer range: 1152921504606846976",
    );
  });

  it("accepts negative int64 varints and 10-byte encodings of small values as the reference does", () => {
    const parts = chunks(recorded(samples.PaymentRefunded));
    for (const value of [-1n, -5n, -(2n ** 53n) + 1n, 2n ** 53n - 1n, 0n]) {
      expect(expectSame(bytesOf([...parts, int(2, value)])).ok).toBe(true);
    }
    // 5 as a 10-byte varint (non-minimal, still valid protobuf).
    const padded = bytesOf([...parts, [0x10, 0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]]);
    expect(expectSame(padded).ok).toBe(true);
    expect(decodeEnvelope(padded).position).toBe(5);
  });

  it("rejects a known field with the wrong wire type, and a field running past its nested message (stricter)", () => {
    const parts = chunks(recorded(samples.OrderShipped));
    // event_id as a varint: protobuf-es reads the varint as a string length and accepts "AB".
    const asVarint = bytesOf([...parts, [0x08, 0x02, 0x41, 0x42]]);
    expect(both(asVarint).reference.ok).toBe(true);
    expect(() => decodeEnvelope(asVarint)).toThrow(/not an EventEnvelope: wire type 0 for field 1/);
    expect(() => decodeEnvelope(bytesOf([...parts, [0x12, 0x00]]))).toThrow(/wire type 2 for field 2/);
    expect(() => decodeEnvelope(bytesOf([...parts, [0xb1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]]))).toThrow(
      /wire type 1 for field 22/,
    );
    // A string in the shipped event whose length reaches past the event's end into the next field.
    const overrun = bytesOf([...parts.filter((c) => c[0] !== 0xca), [0xca, 0x01, 0x02, 0x0a, 0x03], str(99, "z")]);
    expect(() => decodeEnvelope(overrun)).toThrow(ValidationError);
    expect(() => decodeEnvelope(overrun)).toThrow(/runs past the end/);
  });

  it("agrees with the reference on many random events and on random byte mutations of them", () => {
    const random = seededRandom(0x5eed);
    const stats = { events: 0, sameAccept: 0, sameReject: 0, stricter: 0 };
    for (let n = 0; n < 2000; n++) {
      const event = randomOrderEvent(random);
      let parts = chunks(event);
      // Vary the wire form: shuffled fields, repeats of a field, unknown fields.
      if (random() < 0.5) parts = shuffle(parts, random);
      if (random() < 0.3) parts = [...parts, ...parts.filter(() => random() < 0.3)];
      if (random() < 0.3) parts.splice(Math.floor(random() * parts.length), 0, ...unknownFields());
      const bytes = bytesOf(parts);
      const { fast, reference } = both(bytes, committedHeader);
      expect(reference.ok).toBe(true);
      expect(fast).toStrictEqual(reference);
      stats.events++;

      for (let m = 0; m < 10; m++) {
        const mutated = both(mutate(bytes, random), committedHeader);
        const ours = mutated.fast;
        const theirs = mutated.reference;
        if (!ours.ok && ours.field === "envelope" && (theirs.ok || theirs.field !== "envelope")) {
          // The bytes parse for protobuf-es but not here: only the two documented strictness cases may do that.
          expect(ours.message).toMatch(/wire type \d for field \d+|runs past the end of its/);
          stats.stricter++;
        } else if (theirs.ok) {
          expect(ours).toStrictEqual(theirs);
          stats.sameAccept++;
        } else {
          expect(ours.ok, `reference rejected (${theirs.message}) but fast accepted`).toBe(false);
          if (!ours.ok) {
            expect(ours.field).toBe(theirs.field);
            if (theirs.field !== "envelope") expect(ours.message).toBe(theirs.message);
          }
          stats.sameReject++;
        }
      }
    }
    // The mutations exercise both outcomes broadly, and strictness is the exception.
    expect(stats.sameAccept).toBeGreaterThan(2000);
    expect(stats.sameReject).toBeGreaterThan(2000);
    expect(stats.stricter).toBeLessThan(stats.sameReject);
  });
});
