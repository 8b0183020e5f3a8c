import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { EventEnvelopeSchema, OrderPlacedSchema } from "@orderly/contracts";
import { seededRandom } from "@orderly/eventsourcing/testing";
import { describe, expect, it } from "vitest";
import { decodeEnvelope, decodeEnvelopeReflective, encodeEnvelope, encodeEnvelopeReflective } from "./codec.js";
import { ENVELOPE } from "./envelope-fields.js";
import { fieldNumbers, ProtoWriter } from "./proto-writer.js";
import { randomOrderEvent } from "./test-samples.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("fieldNumbers", () => {
  it("takes the numbers from the generated descriptors", () => {
    expect(fieldNumbers(TimestampSchema, { seconds: "int64", nanos: "int32" })).toEqual({ seconds: 1, nanos: 2 });
    expect(ENVELOPE.eventId).toBe(EventEnvelopeSchema.field.eventId?.number);
    expect(ENVELOPE.orderCancelled).toBe(EventEnvelopeSchema.field.orderCancelled?.number);
  });

  it("fails loudly when the proto and the code disagree on a field's name or kind", () => {
    expect(() => fieldNumbers(EventEnvelopeSchema, { eventIdentifier: "string" })).toThrow(
      "orderly.orders.v1.EventEnvelope has no field eventIdentifier",
    );
    expect(() => fieldNumbers(EventEnvelopeSchema, { position: "string" })).toThrow(
      "orderly.orders.v1.EventEnvelope.position is int64, the hand-written codec expects string",
    );
    expect(() => fieldNumbers(OrderPlacedSchema, { items: "message" })).toThrow(/items is repeated message/);
  });
});

describe("ProtoWriter", () => {
  it("writes what protobuf-es's toBinary writes for random envelopes, and the reader reads protobuf-es's bytes", () => {
    const random = seededRandom(0x0e11);
    for (let n = 0; n < 3000; n++) {
      const event = randomOrderEvent(random);
      const reference = encodeEnvelopeReflective(event);
      expect(hex(encodeEnvelope(event))).toBe(hex(reference));
      expect(decodeEnvelope(reference)).toStrictEqual(decodeEnvelopeReflective(reference));
    }
  });

  it("keeps a nested message whole when its length prefix grows as the slab runs out", () => {
    const long = "x".repeat(200);
    // field 1 { field 2: 200 × "x" } (203 bytes: a two-byte length), field 3: 1
    const expected = `0acb0112c801${"78".repeat(200)}1801`;
    // Fill the slab to every offset near its end, so that some join must move the message to a fresh slab.
    for (let filler = 130_800; filler < 131_072; filler += 1) {
      const writer = new ProtoWriter();
      writer.begin();
      writer.string(1, "f".repeat(filler));
      writer.finish();
      writer.begin();
      writer.fork(1);
      writer.string(2, long);
      writer.join();
      writer.int(3, 1);
      expect(hex(writer.finish())).toBe(expected);
    }
  });
});
