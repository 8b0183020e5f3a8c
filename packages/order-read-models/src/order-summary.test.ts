import type { RecordedEvent } from "@orderly/eventsourcing";
import { ProjectionHandlerError } from "@orderly/projector";
import { describe, expect, it } from "vitest";
import { listMember } from "./customer-orders-layout.js";
import { evolveSummary, foldBatch } from "./order-summary.js";

const orderId = "0b9c3c4e-7f43-4c55-9b0e-3b1d8a0f6c21";
let position = 0;
function recorded(type: string, data: unknown, streamVersion: number, at = 1_000): RecordedEvent {
  position++;
  return {
    type,
    data,
    streamId: `order-${orderId}`,
    streamVersion,
    position,
    metadata: {
      eventId: `e${position}`,
      commandId: "c",
      correlationId: "c",
      causationId: "c",
      occurredAt: new Date(at),
    },
    committedAt: new Date(at),
  };
}
const placed = () =>
  recorded(
    "OrderPlaced",
    {
      orderId,
      customerId: "alice",
      currency: "EUR",
      items: [
        { sku: "a", quantity: 2, unitPriceMinor: 500 },
        { sku: "b", quantity: 1, unitPriceMinor: 2000 },
      ],
      totalMinor: 3000,
    },
    1,
  );

describe("evolveSummary", () => {
  it("records who placed the order from OrderPlaced's actor, '' without one", () => {
    const p = placed();
    expect(evolveSummary(undefined, p).placedBy).toBe("");
    const withActor = { ...p, metadata: { ...p.metadata, actor: "svc-checkout" } };
    const s = evolveSummary(undefined, withActor);
    expect(s.placedBy).toBe("svc-checkout");
    const paid = { ...recorded("PaymentReceived", { amountMinor: 3000, paymentReference: "r" }, 2, 2_000) };
    expect(evolveSummary(s, { ...paid, metadata: { ...paid.metadata, actor: "svc-payments" } }).placedBy).toBe(
      "svc-checkout",
    );
  });

  it("folds an order's life into its summary", () => {
    const p = placed();
    let s = evolveSummary(undefined, p);
    expect(s).toMatchObject({ status: "placed", paymentStatus: "pending", itemCount: 3, totalMinor: 3000, version: 1 });
    s = evolveSummary(s, recorded("PaymentReceived", { amountMinor: 3000, paymentReference: "r" }, 2, 2_000));
    expect(s).toMatchObject({ status: "paid", paymentStatus: "paid", paidMinor: 3000, version: 2 });
    s = evolveSummary(s, recorded("OrderShipped", { carrier: "x", trackingNumber: "y" }, 3, 3_000));
    expect(s).toMatchObject({ status: "shipped", version: 3, lastPosition: position, placedPosition: p.position });
    expect(s.createdAt.getTime()).toBe(1_000);
    expect(s.updatedAt.getTime()).toBe(3_000);
  });

  it("ignores events the summary already covers (replays are idempotent)", () => {
    const p = placed();
    const s = evolveSummary(undefined, p);
    expect(evolveSummary(s, p)).toBe(s);
  });

  it("refuses what cannot apply: no OrderPlaced first, versions out of sequence, unknown types", () => {
    expect(() => evolveSummary(undefined, recorded("PaymentReceived", { amountMinor: 1 }, 1))).toThrow(
      ProjectionHandlerError,
    );
    const s = evolveSummary(undefined, placed());
    expect(() => evolveSummary(s, recorded("OrderShipped", {}, 3))).toThrow(/does not follow/);
    expect(() => evolveSummary(s, recorded("OrderTeleported", {}, 2))).toThrow(/unknown event type/);
  });

  it("foldBatch returns only the changed summaries", () => {
    const p = placed();
    const changed = foldBatch(new Map(), [p, recorded("PaymentAuthorized", { amountMinor: 3000 }, 2)]);
    expect([...changed.values()].map((s) => s.paymentStatus)).toEqual(["authorized"]);
  });

  it("list members sort newest first, ties by the later position", () => {
    const base = { orderId, createdAt: new Date(5_000), placedPosition: 10 };
    const newer = listMember({ ...base, createdAt: new Date(6_000) });
    const tieLater = listMember({ ...base, placedPosition: 11 });
    const members = [listMember(base), newer, tieLater].sort();
    expect(members).toEqual([newer, tieLater, listMember(base)]);
  });
});
