import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CommandService, CreateOrderRequestSchema, CreateOrderResponseSchema } from "@orderly/contracts";
import { describe, expect, it } from "vitest";
import { createRng } from "./mix.js";
import { decodeAccepted, encodeCreateOrder } from "./wire.js";

describe("encodeCreateOrder", () => {
  it("is byte for byte protobuf-es toBinary of the whole request", () => {
    const rng = createRng(11);
    for (let i = 0; i < 200; i++) {
      const items = Array.from({ length: 1 + Math.floor(rng() * 4) }, (_, j) => ({
        sku: `SKU-${j}-${Math.floor(rng() * 1e6)}`,
        quantity: 1 + Math.floor(rng() * 10_000),
        unitPriceMinor: BigInt(Math.floor(rng() * 1e12)),
      }));
      const rest = { customerId: `c-${Math.floor(rng() * 1e9)}`, currency: "EUR", items };
      const key = `lt-${randomUUID().slice(0, 8)}-${"9".repeat(1 + Math.floor(rng() * 60))}`;
      const orderId = randomUUID();
      const tail = toBinary(CreateOrderRequestSchema, create(CreateOrderRequestSchema, rest));
      const whole = toBinary(
        CreateOrderRequestSchema,
        create(CreateOrderRequestSchema, { idempotencyKey: key, orderId, ...rest }),
      );
      expect(Buffer.compare(encodeCreateOrder(key, orderId, tail), Buffer.from(whole))).toBe(0);
    }
  });

  it("handles the length limits and refuses what it cannot encode in one-byte lengths or as ASCII", () => {
    const tail = new Uint8Array();
    const longest = "k".repeat(127);
    expect(fromBinary(CreateOrderRequestSchema, encodeCreateOrder(longest, "", tail)).idempotencyKey).toBe(longest);
    expect(() => encodeCreateOrder("k".repeat(128), "x", tail)).toThrow(/shorter than 128/);
    expect(() => encodeCreateOrder("clé", "x", tail)).toThrow(/ASCII/);
  });
});

describe("decodeAccepted", () => {
  it("reads what fromBinary reads, for every reply type (each CommandService method's output)", () => {
    const replies = Object.values(CommandService.method).map((method) => method.output);
    expect(replies).toHaveLength(4);
    const rng = createRng(12);
    for (let i = 0; i < 200; i++) {
      const accepted = {
        commandId: randomUUID(),
        orderId: randomUUID(),
        streamVersion: BigInt(Math.floor(rng() * 1000)),
        position: BigInt(Math.floor(rng() * 2 ** 50)), // beyond 32 bits
        duplicate: rng() < 0.5,
      };
      for (const schema of replies) {
        const bytes = toBinary(schema, create(schema, { accepted }));
        expect(decodeAccepted(bytes)).toEqual({
          streamVersion: Number(accepted.streamVersion),
          position: Number(accepted.position),
          duplicate: accepted.duplicate,
        });
      }
    }
  });

  it("returns undefined without the field, defaults absent fields, and skips unknown ones", () => {
    expect(decodeAccepted(new Uint8Array())).toBeUndefined();
    expect(
      decodeAccepted(toBinary(CreateOrderResponseSchema, create(CreateOrderResponseSchema, { accepted: {} }))),
    ).toEqual({
      streamVersion: 0,
      position: 0,
      duplicate: false,
    });
    const known = toBinary(
      CreateOrderResponseSchema,
      create(CreateOrderResponseSchema, { accepted: { position: 7n, streamVersion: 2n } }),
    );
    // Field 9 (varint 150) before and field 15 (a string) inside `accepted`: a newer server's additions.
    const inner = Buffer.concat([Buffer.from([0x7a, 0x02, 0x68, 0x69]), Buffer.from(known.subarray(2))]);
    const withUnknown = Buffer.concat([Buffer.from([0x48, 0x96, 0x01, 0x0a, inner.length]), inner]);
    expect(decodeAccepted(withUnknown)).toEqual({ streamVersion: 2, position: 7, duplicate: false });
  });
});
