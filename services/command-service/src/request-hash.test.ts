import { createHash } from "node:crypto";
import { create, type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import {
  CancelOrderRequestSchema,
  CreateOrderRequestSchema,
  ShipOrderRequestSchema,
  UpdatePaymentStatusRequestSchema,
} from "@orderly/contracts";
import type { ProtoWriter } from "@orderly/event-bus";
import { seededRandom } from "@orderly/eventsourcing";
import { describe, expect, it } from "vitest";
import {
  encodeCancelOrder,
  encodeCreateOrder,
  encodeShipOrder,
  encodeUpdatePaymentStatus,
  requestHash,
} from "./request-hash.js";

// The hand-written encoder must write exactly protobuf-es's canonical bytes: checked on random requests.

// A seeded generator, so a failure reproduces.
const random = seededRandom(42);
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
const alphabet = ["", "a", "Z", "é", "😀", "\u0000", "ключ", "-", "x".repeat(200)];
const text = () =>
  random() < 0.2 ? "" : Array.from({ length: Math.floor(random() * 6) }, () => pick(alphabet)).join("");
const int64 = () =>
  pick([
    0n,
    1n,
    -1n,
    127n,
    128n,
    300n,
    2n ** 53n - 1n,
    2n ** 53n,
    2n ** 63n - 1n,
    -(2n ** 63n),
    BigInt(Math.floor(random() * 1e12)),
  ]);
const int32 = () => pick([0, 1, -1, 127, 128, 16_384, 2 ** 31 - 1, -(2 ** 31), Math.floor(random() * 1e6)]);
const optional = () => (random() < 0.3 ? undefined : int64());
/** The fields UpdatePaymentStatus, ShipOrder and CancelOrder start with. */
const onOrder = () => ({ idempotencyKey: text(), orderId: text(), expectedVersion: optional() });

function expectSameBytes<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  encode: (w: ProtoWriter) => void,
): void {
  const expected = createHash("sha256").update("rpc\n").update(toBinary(schema, message)).digest("hex");
  expect(requestHash("rpc", encode)).toBe(expected);
}

describe("requestHash", () => {
  it("matches protobuf-es toBinary for random CreateOrder requests", () => {
    for (let i = 0; i < 1000; i++) {
      const request = create(CreateOrderRequestSchema, {
        idempotencyKey: text(),
        orderId: text(),
        customerId: text(),
        currency: text(),
        items: Array.from({ length: Math.floor(random() * 4) }, () => ({
          sku: text(),
          quantity: int32(),
          unitPriceMinor: int64(),
        })),
      });
      expectSameBytes(CreateOrderRequestSchema, request, encodeCreateOrder(request));
    }
  });

  it("matches for random UpdatePaymentStatus, ShipOrder and CancelOrder requests (optional presence, enums)", () => {
    for (let i = 0; i < 1000; i++) {
      const payment = create(UpdatePaymentStatusRequestSchema, {
        ...onOrder(),
        status: pick([0, 1, 2, 3, 4, 5, 99, -7]),
        amountMinor: int64(),
        paymentReference: text(),
      });
      expectSameBytes(UpdatePaymentStatusRequestSchema, payment, encodeUpdatePaymentStatus(payment));
      const ship = create(ShipOrderRequestSchema, {
        ...onOrder(),
        carrier: text(),
        trackingNumber: text(),
      });
      expectSameBytes(ShipOrderRequestSchema, ship, encodeShipOrder(ship));
      const cancel = create(CancelOrderRequestSchema, { ...onOrder(), reason: text() });
      expectSameBytes(CancelOrderRequestSchema, cancel, encodeCancelOrder(cancel));
    }
  });

  it("tells expected_version 0 from no expected_version", () => {
    const without = create(ShipOrderRequestSchema, { idempotencyKey: "k" });
    const zero = create(ShipOrderRequestSchema, { idempotencyKey: "k", expectedVersion: 0n });
    expect(requestHash("r", encodeShipOrder(without))).not.toBe(requestHash("r", encodeShipOrder(zero)));
  });

  it("grows past its initial buffer", () => {
    const request = create(CreateOrderRequestSchema, {
      idempotencyKey: "k",
      items: Array.from({ length: 100 }, (_, i) => ({
        sku: `sku-${"x".repeat(60)}-${i}`,
        quantity: i,
        unitPriceMinor: BigInt(i),
      })),
    });
    expectSameBytes(CreateOrderRequestSchema, request, encodeCreateOrder(request));
  });
});
