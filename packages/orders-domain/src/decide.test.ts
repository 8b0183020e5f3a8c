import { AlreadyExistsError, BusinessRuleError, NotFoundError, ValidationError } from "@orderly/eventsourcing";
import { deciderSpecification } from "@orderly/eventsourcing/testing";
import { describe, expect, it } from "vitest";
import type { OrderCommand } from "./commands.js";
import { orderDecider } from "./decider.js";
import type { OrderEvent } from "./events.js";
import { evolve } from "./evolve.js";
import { initialOrderState } from "./state.js";
import { type PaymentStatus, paymentStatuses } from "./status.js";
import {
  authorized,
  cancelled,
  cancelOrder,
  createOrder,
  failed,
  orderId,
  placed,
  received,
  refunded,
  shipOrder,
  shipped,
  total,
  twoItems,
  updatePayment,
} from "./test-fixtures.js";

const { given } = deciderSpecification(orderDecider);

describe("CreateOrder", () => {
  it("places a new order with its total", () => {
    given([]).when(createOrder()).then([placed]);
  });

  it("makes the order PLACED with payment PENDING", () => {
    const state = [placed].reduce(evolve, initialOrderState());
    expect(state).toEqual({
      status: "placed",
      paymentStatus: "pending",
      orderId,
      customerId: "customer-1",
      currency: "EUR",
      totalMinor: total,
      paidMinor: 0,
    });
  });

  it("refuses an order id that is taken (ALREADY_EXISTS)", () => {
    given([placed]).when(createOrder()).then(AlreadyExistsError);
  });

  it("accepts a free order (unit price 0)", () => {
    const items = [{ sku: "FREE", quantity: 3, unitPriceMinor: 0 }];
    given([])
      .when(createOrder({ items }))
      .then([{ type: "OrderPlaced", data: { ...placed.data, items, totalMinor: 0 } } as OrderEvent]);
  });
});

describe("commands on an order that does not exist", () => {
  const commands: [string, OrderCommand][] = [
    ["UpdatePaymentStatus", updatePayment("paid", total)],
    ["ShipOrder", shipOrder()],
    ["CancelOrder", cancelOrder()],
  ];
  it.each(commands)("%s is NOT_FOUND", (_, command) => {
    given([]).when(command).then(NotFoundError);
  });
});

describe("UpdatePaymentStatus transitions", () => {
  const allowed: [string, OrderEvent[], PaymentStatus, number, OrderEvent][] = [
    ["PENDING → AUTHORIZED", [placed], "authorized", total, authorized],
    ["PENDING → PAID", [placed], "paid", total, received],
    ["PENDING → FAILED", [placed], "failed", total, failed],
    ["AUTHORIZED → PAID", [placed, authorized], "paid", total, received],
    ["AUTHORIZED → FAILED", [placed, authorized], "failed", total, failed],
    ["PAID → REFUNDED", [placed, received], "refunded", total, refunded],
    ["PAID → REFUNDED on a shipped order", [placed, received, shipped], "refunded", total, refunded],
    ["PAID → REFUNDED on a cancelled order", [placed, received, cancelled], "refunded", total, refunded],
  ];
  it.each(allowed)("allows %s", (_, history, status, amount, event) => {
    given(history).when(updatePayment(status, amount)).then([event]);
  });

  // Every other pair of statuses is refused: the five statuses squared, less the six moves allowed above.
  const allowedMoves = [
    "pending → authorized",
    "pending → paid",
    "pending → failed",
    "authorized → paid",
    "authorized → failed",
    "paid → refunded",
  ];
  const historyAt: Record<PaymentStatus, OrderEvent[]> = {
    pending: [placed],
    authorized: [placed, authorized],
    paid: [placed, received],
    failed: [placed, failed],
    refunded: [placed, received, refunded],
  };
  const refused: [string, OrderEvent[], PaymentStatus][] = paymentStatuses.flatMap((from) =>
    paymentStatuses
      .filter((to) => !allowedMoves.includes(`${from} → ${to}`))
      .map((to): [string, OrderEvent[], PaymentStatus] => [
        `${from.toUpperCase()} → ${to.toUpperCase()}${from === to ? " (current status again)" : ""}`,
        historyAt[from],
        to,
      ]),
  );
  it("refuses the 19 other moves", () => {
    expect(refused).toHaveLength(19);
  });
  it.each(refused)("refuses %s (FAILED_PRECONDITION)", (_, history, status) => {
    given(history).when(updatePayment(status, total)).then(BusinessRuleError);
  });
});

describe("UpdatePaymentStatus amounts", () => {
  it.each([
    ["AUTHORIZED", "authorized"],
    ["PAID", "paid"],
  ] as const)("%s needs amount_minor equal to the order total", (_, status) => {
    given([placed])
      .when(updatePayment(status, total - 1))
      .then(BusinessRuleError, /order total/);
    given([placed])
      .when(updatePayment(status, total + 1))
      .then(BusinessRuleError, /order total/);
  });

  it("REFUNDED needs amount_minor equal to the paid amount", () => {
    given([placed, received])
      .when(updatePayment("refunded", total - 1))
      .then(BusinessRuleError, /paid amount/);
  });

  it("FAILED takes any amount", () => {
    given([placed])
      .when(updatePayment("failed", 0))
      .then([{ type: "PaymentFailed", data: { amountMinor: 0, paymentReference: "psp-42" } }]);
  });

  it("PaymentReceived makes the order PAID with paid_minor set", () => {
    const state = [placed, received].reduce(evolve, initialOrderState());
    expect(state).toMatchObject({ status: "paid", paymentStatus: "paid", paidMinor: total });
  });
});

describe("payment changes on a cancelled order", () => {
  const refusedOnCancelled: [string, OrderEvent[], PaymentStatus][] = [
    ["PENDING → AUTHORIZED", [placed, cancelled], "authorized"],
    ["PENDING → PAID", [placed, cancelled], "paid"],
    ["PENDING → FAILED", [placed, cancelled], "failed"],
    ["AUTHORIZED → PAID", [placed, authorized, cancelled], "paid"],
    ["AUTHORIZED → FAILED", [placed, authorized, cancelled], "failed"],
  ];
  it.each(refusedOnCancelled)("refuses %s (only PAID → REFUNDED is allowed)", (_, history, status) => {
    given(history)
      .when(updatePayment(status, total))
      .then(BusinessRuleError, /cancelled/);
  });
});

describe("ShipOrder", () => {
  it("ships a paid order", () => {
    given([placed, received]).when(shipOrder()).then([shipped]);
  });

  it.each([
    ["placed", [placed]],
    ["placed with payment authorized", [placed, authorized]],
    ["placed with payment failed", [placed, failed]],
    ["shipped", [placed, received, shipped]],
    ["cancelled", [placed, cancelled]],
    ["cancelled after payment", [placed, received, cancelled]],
  ] as [string, OrderEvent[]][])("refuses a %s order (FAILED_PRECONDITION)", (_, history) => {
    given(history).when(shipOrder()).then(BusinessRuleError);
  });

  it("accepts empty carrier and tracking number (no lower limit)", () => {
    given([placed, received])
      .when(shipOrder({ carrier: "", trackingNumber: "" }))
      .then([{ type: "OrderShipped", data: { carrier: "", trackingNumber: "" } }]);
  });
});

describe("CancelOrder", () => {
  it.each([
    ["placed", [placed]],
    ["placed with payment authorized", [placed, authorized]],
    ["placed with payment failed", [placed, failed]],
    ["paid", [placed, received]],
  ] as [string, OrderEvent[]][])("cancels a %s order", (_, history) => {
    given(history).when(cancelOrder()).then([cancelled]);
  });

  it.each([
    ["shipped", [placed, received, shipped]],
    ["cancelled", [placed, cancelled]],
  ] as [string, OrderEvent[]][])("refuses a %s order (FAILED_PRECONDITION)", (_, history) => {
    given(history).when(cancelOrder()).then(BusinessRuleError);
  });

  it("makes the order CANCELLED", () => {
    const state = [placed, received, cancelled].reduce(evolve, initialOrderState());
    expect(state).toMatchObject({ status: "cancelled", paymentStatus: "paid" });
  });
});

describe("limits (INVALID_ARGUMENT naming the proto field)", () => {
  const field = (name: string) => (error: ValidationError) => error.field === name;
  const long = (n: number, ch = "a") => ch.repeat(n);
  const item = { sku: "SKU-1", quantity: 1, unitPriceMinor: 100 };

  it.each([
    ["customer_id empty", { customerId: "" }, "customer_id"],
    ["customer_id 129 characters", { customerId: long(129) }, "customer_id"],
    ["customer_id with a control character", { customerId: "a\u0007b" }, "customer_id"],
    ["customer_id with a C1 control character", { customerId: "a\u0085b" }, "customer_id"],
    ["currency lower-case", { currency: "eur" }, "currency"],
    ["currency of two letters", { currency: "EU" }, "currency"],
    ["currency of four letters", { currency: "EURO" }, "currency"],
    ["currency with a digit", { currency: "EU1" }, "currency"],
    ["no items", { items: [] }, "items"],
    ["101 items", { items: Array.from({ length: 101 }, () => item) }, "items"],
    ["sku empty", { items: [{ ...item, sku: "" }] }, "items[0].sku"],
    ["sku 65 characters", { items: [item, { ...item, sku: long(65) }] }, "items[1].sku"],
    ["sku with a newline", { items: [{ ...item, sku: "a\nb" }] }, "items[0].sku"],
    ["quantity 0", { items: [{ ...item, quantity: 0 }] }, "items[0].quantity"],
    ["quantity 10001", { items: [{ ...item, quantity: 10_001 }] }, "items[0].quantity"],
    ["quantity negative", { items: [{ ...item, quantity: -1 }] }, "items[0].quantity"],
    ["unit_price_minor negative", { items: [{ ...item, unitPriceMinor: -1 }] }, "items[0].unit_price_minor"],
    ["a total above 2^53", { items: [{ ...item, quantity: 10_000, unitPriceMinor: 2 ** 50 }] }, "items"],
    ["order_id not a UUID", { orderId: "not-a-uuid" }, "order_id"],
    ["order_id upper-case", { orderId: orderId.toUpperCase() }, "order_id"],
  ] as [string, Parameters<typeof createOrder>[0], string][])("CreateOrder: %s", (_, data, name) => {
    given([]).when(createOrder(data)).then(ValidationError, field(name));
  });

  it.each([
    ["customer_id of 1 and 128 characters", [{ customerId: "c" }, { customerId: long(128) }]],
    ["customer_id of 128 characters outside the BMP", [{ customerId: long(128, "😀") }]],
    ["sku of 1 and 64 characters", [{ items: [{ ...item, sku: "s" }] }, { items: [{ ...item, sku: long(64) }] }]],
    ["1 and 100 items", [{ items: [item] }, { items: Array.from({ length: 100 }, () => item) }]],
    ["quantity 1 and 10000", [{ items: [{ ...item, quantity: 1 }] }, { items: [{ ...item, quantity: 10_000 }] }]],
  ] as [string, Parameters<typeof createOrder>[0][]][])("CreateOrder accepts the edges: %s", (_, variants) => {
    for (const data of variants) {
      const state = initialOrderState();
      expect(orderDecider.decide(createOrder(data), state)).toHaveLength(1);
    }
  });

  it.each([
    ["payment_reference 257 characters", updatePayment("paid", total, { paymentReference: long(257) })],
    ["payment_reference with a tab", updatePayment("paid", total, { paymentReference: "a\tb" })],
    ["amount_minor negative", updatePayment("failed", -1)],
    ["amount_minor not an integer", updatePayment("paid", 1.5)],
    ["status unknown", updatePayment("settled" as PaymentStatus, total)],
    ["carrier 257 characters", shipOrder({ carrier: long(257) })],
    ["carrier with a control character", shipOrder({ carrier: "\u0000" })],
    ["tracking_number 257 characters", shipOrder({ trackingNumber: long(257) })],
    ["tracking_number with a DEL", shipOrder({ trackingNumber: "a\u007f" })],
    ["reason 257 characters", cancelOrder({ reason: long(257) })],
    ["reason with a carriage return", cancelOrder({ reason: "a\rb" })],
    ["order_id not a UUID", cancelOrder({ orderId: "42" })],
  ] as [string, OrderCommand][])("%s", (_, command) => {
    const name = _.split(" ")[0] as string;
    given([placed]).when(command).then(ValidationError, field(name));
  });

  it("accepts 256-character free text", () => {
    given([placed, received])
      .when(shipOrder({ carrier: long(256), trackingNumber: long(256) }))
      .then([{ type: "OrderShipped", data: { carrier: long(256), trackingNumber: long(256) } }]);
  });

  it("checks limits before existence (a malformed command on a missing order is INVALID_ARGUMENT)", () => {
    given([])
      .when(shipOrder({ carrier: long(257) }))
      .then(ValidationError);
  });
});

describe("evolve", () => {
  it("ignores events before OrderPlaced", () => {
    expect(evolve(initialOrderState(), received)).toEqual({ status: "none" });
  });

  it("keeps the placed items out of the state but the total in it", () => {
    const state = evolve(initialOrderState(), placed);
    expect(state).not.toHaveProperty("items");
    expect(twoItems.reduce((s, i) => s + i.quantity * i.unitPriceMinor, 0)).toBe(total);
  });
});
