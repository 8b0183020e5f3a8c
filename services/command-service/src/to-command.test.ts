import { PaymentStatus } from "@orderly/contracts";
import { ValidationError } from "@orderly/eventsourcing";
import { describe, expect, it } from "vitest";
import { encodeCancelOrder, requestHash } from "./request-hash.js";
import { cancelRequest, createOrderRequest, paymentRequest, shipRequest } from "./test-requests.js";
import {
  rpcNames,
  toCancelOrder,
  toCommandAccepted,
  toCreateOrder,
  toShipOrder,
  toUpdatePaymentStatus,
} from "./to-command.js";

const call = { headers: {} };
const orderId = "0b9c3c4e-7f43-4c55-9b0e-3b1d8a0f6c21";

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.field;
    throw error;
  }
  return undefined;
}

describe("toCreateOrder", () => {
  it("maps the request, converting int64 prices to numbers", () => {
    const { command, expectedVersion, idempotency } = toCreateOrder(createOrderRequest({ orderId }), call);
    expect(command.type).toBe("CreateOrder");
    expect(command.data).toEqual({
      orderId,
      customerId: "customer-1",
      currency: "EUR",
      items: [
        { sku: "SKU-1", quantity: 2, unitPriceMinor: 1250 },
        { sku: "SKU-2", quantity: 1, unitPriceMinor: 500 },
      ],
    });
    expect(expectedVersion).toBeUndefined();
    expect(idempotency.requestHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("generates an order id when none is given, and lower-cases a given one", () => {
    const generated = toCreateOrder(createOrderRequest(), call).command.data.orderId;
    expect(generated).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(toCreateOrder(createOrderRequest({ orderId: orderId.toUpperCase() }), call).command.data.orderId).toBe(
      orderId,
    );
  });

  it("refuses a bad UUID, a price beyond 2^53 and a bad idempotency key", () => {
    expect(fieldOf(() => toCreateOrder(createOrderRequest({ orderId: "order-1" }), call))).toBe("order_id");
    const items = [{ sku: "S", quantity: 1, unitPriceMinor: 2n ** 60n }];
    expect(fieldOf(() => toCreateOrder(createOrderRequest({ items }), call))).toBe("items[0].unit_price_minor");
    expect(fieldOf(() => toCreateOrder(createOrderRequest({ idempotencyKey: "" }), call))).toBe("idempotency_key");
    expect(fieldOf(() => toCreateOrder(createOrderRequest({ idempotencyKey: "x".repeat(129) }), call))).toBe(
      "idempotency_key",
    );
  });
});

describe("request hash", () => {
  it("is the same for the same RPC and fields, different otherwise", () => {
    const a = createOrderRequest({ idempotencyKey: "same" });
    const b = createOrderRequest({ idempotencyKey: "same" });
    const c = createOrderRequest({ idempotencyKey: "same", customerId: "customer-2" });
    expect(toCreateOrder(a, call).idempotency.requestHash).toBe(toCreateOrder(b, call).idempotency.requestHash);
    expect(toCreateOrder(a, call).idempotency.requestHash).not.toBe(toCreateOrder(c, call).idempotency.requestHash);
    // Same fields under another RPC are another request.
    const ship = toShipOrder(shipRequest(orderId, { idempotencyKey: "k", carrier: "", trackingNumber: "" }), call);
    const cancel = toCancelOrder(cancelRequest(orderId, { idempotencyKey: "k", reason: "" }), call);
    expect(ship.idempotency.requestHash).not.toBe(cancel.idempotency.requestHash);
  });

  it("tells a missing expected_version from expected_version 0 (proto3 optional)", () => {
    const without = toShipOrder(shipRequest(orderId, { idempotencyKey: "k" }), call);
    const zero = toShipOrder(shipRequest(orderId, { idempotencyKey: "k", expectedVersion: 0n }), call);
    expect(without.expectedVersion).toBeUndefined();
    expect(zero.expectedVersion).toBe(0);
    expect(without.idempotency.requestHash).not.toBe(zero.idempotency.requestHash);
  });
});

describe("toUpdatePaymentStatus", () => {
  it.each([
    [PaymentStatus.PENDING, "pending"],
    [PaymentStatus.AUTHORIZED, "authorized"],
    [PaymentStatus.PAID, "paid"],
    [PaymentStatus.FAILED, "failed"],
    [PaymentStatus.REFUNDED, "refunded"],
  ])("maps status %i to %s", (status, expected) => {
    expect(toUpdatePaymentStatus(paymentRequest(orderId, status), call).command.data.status).toBe(expected);
  });

  it("refuses UNSPECIFIED and unknown enum values, a missing order id, huge amounts, negative versions", () => {
    expect(fieldOf(() => toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.UNSPECIFIED), call))).toBe(
      "status",
    );
    expect(fieldOf(() => toUpdatePaymentStatus(paymentRequest(orderId, 99 as PaymentStatus), call))).toBe("status");
    expect(fieldOf(() => toUpdatePaymentStatus(paymentRequest("", PaymentStatus.PAID), call))).toBe("order_id");
    expect(
      fieldOf(() =>
        toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID, { amountMinor: 2n ** 53n }), call),
      ),
    ).toBe("amount_minor");
    expect(
      fieldOf(() => toUpdatePaymentStatus(paymentRequest(orderId, PaymentStatus.PAID, { expectedVersion: -1n }), call)),
    ).toBe("expected_version");
  });

  it("passes expected_version through", () => {
    const request = paymentRequest(orderId, PaymentStatus.PAID, { expectedVersion: 7n });
    expect(toUpdatePaymentStatus(request, call).expectedVersion).toBe(7);
  });
});

describe("metadata", () => {
  it("takes traceparent and correlation id from the call's headers when well-formed", () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const correlation = "11111111-2222-4333-8444-555555555555";
    const { metadata } = toCancelOrder(cancelRequest(orderId), {
      headers: { traceparent, "x-correlation-id": correlation },
    }).command;
    expect(metadata.traceparent).toBe(traceparent);
    expect(metadata.correlationId).toBe(correlation);
    expect(metadata.causationId).toBe(metadata.commandId);
    expect(metadata.now).toBeInstanceOf(Date);
  });

  it("ignores malformed headers and gives every command its own id", () => {
    const a = toCancelOrder(cancelRequest(orderId), { headers: { traceparent: "junk", "x-correlation-id": "x" } });
    const b = toCancelOrder(cancelRequest(orderId), call);
    expect(a.command.metadata.traceparent).toBeUndefined();
    expect(a.command.metadata.correlationId).toBe(a.command.metadata.commandId);
    expect(a.command.metadata.commandId).not.toBe(b.command.metadata.commandId);
  });

  it("records the caller as the actor: the token's sub, else the client certificate's subject, else none", () => {
    const withToken = { headers: {}, principal: { subject: "svc-checkout" }, clientCertificateSubject: "CN=edge" };
    expect(toCancelOrder(cancelRequest(orderId), withToken).command.metadata.actor).toBe("svc-checkout");
    const certOnly = { headers: {}, clientCertificateSubject: "CN=svc-checkout,O=Orderly" };
    expect(toCancelOrder(cancelRequest(orderId), certOnly).command.metadata.actor).toBe(
      "x509:CN=svc-checkout,O=Orderly",
    );
    expect(toCancelOrder(cancelRequest(orderId), call).command.metadata.actor).toBeUndefined();
  });

  it("scopes an idempotency key to its caller when auth is on; without auth the request hash is unchanged", () => {
    const request = cancelRequest(orderId);
    const as = (subject: string) => ({ headers: {}, principal: { subject } });
    const checkout = toCancelOrder(request, as("svc-checkout")).idempotency?.requestHash;
    expect(toCancelOrder(request, as("svc-checkout")).idempotency?.requestHash).toBe(checkout);
    expect(toCancelOrder(request, as("svc-other")).idempotency?.requestHash).not.toBe(checkout);
    expect(toCancelOrder(request, call).idempotency?.requestHash).toBe(
      requestHash(rpcNames.cancelOrder, encodeCancelOrder(request)),
    );
  });
});

describe("toCommandAccepted", () => {
  it("maps an outcome to CommandAccepted with int64 fields", () => {
    const accepted = toCommandAccepted({
      commandId: "c0ffee00-0000-4000-8000-000000000000",
      streamId: `order-${orderId}`,
      streamVersion: 3,
      position: 12345,
      duplicate: true,
    });
    expect(accepted.orderId).toBe(orderId);
    expect(accepted.streamVersion).toBe(3n);
    expect(accepted.position).toBe(12345n);
    expect(accepted.duplicate).toBe(true);
    expect(accepted.commandId).toBe("c0ffee00-0000-4000-8000-000000000000");
  });
});
