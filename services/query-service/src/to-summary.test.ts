import { timestampDate } from "@bufbuild/protobuf/wkt";
import { OrderStatus, PaymentStatus } from "@orderly/contracts";
import { ValidationError } from "@orderly/eventsourcing";
import { describe, expect, it } from "vitest";
import { positionFromProto, toReadModelPosition, toSummary } from "./to-summary.js";

describe("toSummary", () => {
  it("maps every field of the view, statuses to the proto enums and amounts to int64", () => {
    const createdAt = new Date("2026-11-26T06:00:00.123Z");
    const updatedAt = new Date("2026-11-26T06:00:01.456Z");
    const summary = toSummary({
      orderId: "6f1c1a52-0e1d-4a8c-9a53-1b2f0f8e6f01",
      customerId: "customer-1",
      status: "shipped",
      paymentStatus: "refunded",
      currency: "EUR",
      totalMinor: 9_007_199_254_740_991,
      paidMinor: 12_345,
      itemCount: 7,
      version: 4,
      createdAt,
      updatedAt,
      lastPosition: 99,
      placedBy: "svc-checkout",
    });
    expect(summary.orderId).toBe("6f1c1a52-0e1d-4a8c-9a53-1b2f0f8e6f01");
    expect(summary.customerId).toBe("customer-1");
    expect(summary.status).toBe(OrderStatus.SHIPPED);
    expect(summary.paymentStatus).toBe(PaymentStatus.REFUNDED);
    expect(summary.currency).toBe("EUR");
    expect(summary.totalMinor).toBe(9_007_199_254_740_991n);
    expect(summary.paidMinor).toBe(12_345n);
    expect(summary.itemCount).toBe(7);
    expect(summary.version).toBe(4n);
    expect(summary.createdAt && timestampDate(summary.createdAt)).toEqual(createdAt);
    expect(summary.updatedAt && timestampDate(summary.updatedAt)).toEqual(updatedAt);
    expect(summary.placedBy).toBe("svc-checkout");
  });

  it("maps each domain status", () => {
    const base = {
      orderId: "x",
      customerId: "c",
      currency: "EUR",
      totalMinor: 0,
      paidMinor: 0,
      itemCount: 1,
      version: 1,
      createdAt: new Date(0),
      updatedAt: new Date(0),
      lastPosition: 1,
    };
    const statuses = {
      placed: OrderStatus.PLACED,
      paid: OrderStatus.PAID,
      shipped: OrderStatus.SHIPPED,
      cancelled: OrderStatus.CANCELLED,
    } as const;
    for (const [status, expected] of Object.entries(statuses)) {
      expect(toSummary({ ...base, status: status as keyof typeof statuses, paymentStatus: "pending" }).status).toBe(
        expected,
      );
    }
    const payments = {
      pending: PaymentStatus.PENDING,
      authorized: PaymentStatus.AUTHORIZED,
      paid: PaymentStatus.PAID,
      failed: PaymentStatus.FAILED,
      refunded: PaymentStatus.REFUNDED,
    } as const;
    for (const [paymentStatus, expected] of Object.entries(payments)) {
      expect(
        toSummary({ ...base, status: "placed", paymentStatus: paymentStatus as keyof typeof payments }).paymentStatus,
      ).toBe(expected);
    }
  });
});

describe("toReadModelPosition", () => {
  it("carries name, position and lag", () => {
    const position = toReadModelPosition({ readModel: "customer_orders", position: 42, lagSeconds: 0.25 });
    expect(position.readModel).toBe("customer_orders");
    expect(position.position).toBe(42n);
    expect(position.lagSeconds).toBe(0.25);
  });
});

describe("positionFromProto", () => {
  it("accepts 0 and positive positions within JS's exact integers", () => {
    expect(positionFromProto(0n, "min_position")).toBe(0);
    expect(positionFromProto(9_007_199_254_740_991n, "min_position")).toBe(9_007_199_254_740_991);
  });

  it("rejects negative and oversized positions naming the field", () => {
    expect(() => positionFromProto(-1n, "min_position")).toThrow(ValidationError);
    expect(() => positionFromProto(-1n, "min_position")).toThrow(/min_position/);
    expect(() => positionFromProto(9_007_199_254_740_992n, "min_position")).toThrow(ValidationError);
  });
});
