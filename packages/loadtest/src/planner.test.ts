import { type DescMessage, type DescMethodUnary, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { CommandService, PaymentStatus } from "@orderly/contracts";
import { describe, expect, it } from "vitest";
import { type CallKind, createRng, makeMix, parseMixWeights } from "./mix.js";
import { CallPlanner, type PlannedCall } from "./planner.js";

const { createOrder, updatePaymentStatus, shipOrder, cancelOrder } = CommandService.method;

/** A planned call's bytes, decoded as the request of the CommandService method the call names. */
function requestOf<I extends DescMessage>(method: DescMethodUnary<I>, call: PlannedCall): MessageShape<I> {
  expect(call.method).toBe(method.name);
  return fromBinary(method.input, call.bytes);
}

describe("CallPlanner", () => {
  const planner = (mix: string, duplicates = 0, conflicts = 0, seed = 1) =>
    new CallPlanner({ mix: makeMix(parseMixWeights(mix), duplicates, conflicts), rng: createRng(seed), customers: 10 });
  /** The next call of `kind`; other calls are settled as failed (so they leave no state behind). */
  const nextOf = (p: CallPlanner, kind: CallKind) => {
    for (let i = 0; i < 1000; i++) {
      const call = p.next();
      if (call.kind === kind) return call;
      p.settle(call, false, undefined);
    }
    throw new Error(`no ${kind} in 1000 calls`);
  };
  /** The first call, a create (there is nothing to pay, ship, replay or conflict with yet), accepted at version 1. */
  const acceptFirst = (p: CallPlanner) => {
    const first = p.next();
    expect(first.kind).toBe("create");
    p.settle(first, true, 1);
    return first;
  };

  it("builds valid follow-up commands from the state it learned", () => {
    const p = planner("create=1,pay=1000");
    const first = p.next();
    expect(first).toMatchObject({ kind: "create", method: "CreateOrder", expect: "ok", after: "placed" });
    const created = requestOf(createOrder, first);
    expect(created.orderId).toBe(first.order?.id);
    expect(created.items.length).toBeGreaterThanOrEqual(1);
    const total = created.items.reduce((sum, i) => sum + i.quantity * Number(i.unitPriceMinor), 0);
    expect(first.order?.totalMinor).toBe(total);
    // While the create is in flight the order is not in the book: the next call cannot be a pay.
    expect(p.next().kind).toBe("create");
    p.settle(first, true, 1);
    expect(p.idle).toEqual({ placed: 1, paid: 0 });

    const pay = nextOf(p, "pay");
    expect(pay.method).toBe("UpdatePaymentStatus");
    const request = requestOf(updatePaymentStatus, pay);
    expect(request).toMatchObject({ orderId: created.orderId, status: PaymentStatus.PAID, expectedVersion: 1n });
    expect(Number(request.amountMinor)).toBe(total);
    expect(p.idle).toEqual({ placed: 0, paid: 0 });
    p.settle(pay, true, 2);
    expect(p.idle).toEqual({ placed: 0, paid: 1 });
  });

  it("ships paid orders with their version, and they leave the book", () => {
    const p = planner("create=1,pay=1000,ship=1000", 0, 0, 3);
    const create = acceptFirst(p);
    const pay = nextOf(p, "pay");
    p.settle(pay, true, 2);
    const ship = nextOf(p, "ship");
    expect(requestOf(shipOrder, ship)).toMatchObject({ orderId: create.order?.id, expectedVersion: 2n });
    p.settle(ship, true, 3);
    expect(p.idle).toEqual({ placed: 0, paid: 0 });
  });

  it("sends conflicts with a stale expected_version and keeps the order on ABORTED", () => {
    const p = planner("create=1", 0, 1, 5);
    const c1 = acceptFirst(p);
    const c2 = p.next();
    expect(c2).toMatchObject({ kind: "conflict", method: "CancelOrder", expect: "aborted" });
    const request = requestOf(cancelOrder, c2);
    expect(request.orderId).toBe(c1.order?.id);
    expect(Number(request.expectedVersion)).not.toBe(1);
    p.settle(c2, true, undefined);
    expect(p.idle).toEqual({ placed: 1, paid: 0 });
  });

  it("replays accepted requests byte for byte as duplicates", () => {
    const p = planner("create=1", 1, 0, 9);
    const first = acceptFirst(p);
    const dup = p.next();
    expect(dup).toMatchObject({ kind: "duplicate", method: "CreateOrder", expect: "duplicate", order: undefined });
    expect(Buffer.compare(dup.bytes, first.bytes)).toBe(0);
  });

  it("forgets an order whose call had an unexpected outcome (its state is unknown)", () => {
    const p = planner("create=1", 0, 0, 2);
    const call = p.next();
    p.settle(call, false, undefined);
    expect(p.idle).toEqual({ placed: 0, paid: 0 });
  });

  it("keeps no book when nothing in the mix would read it", () => {
    const p = planner("create=1", 1, 0, 6);
    for (let i = 0; i < 20; i++) p.settle(p.next(), true, 1);
    expect(p.idle).toEqual({ placed: 0, paid: 0 });
    expect(p.next().kind).toBe("duplicate"); // replays still work
  });

  it("encodes CreateOrder exactly as protobuf-es encodes the whole request", () => {
    const p = planner("create=1", 0, 0, 4);
    for (let i = 0; i < 50; i++) {
      const call = p.next();
      const decoded = requestOf(createOrder, call);
      expect(decoded.idempotencyKey).toMatch(/^lt-[0-9a-f]{8}-\d+$/);
      expect(decoded.orderId).toBe(call.order?.id);
      expect(decoded.customerId).toMatch(/^customer-\d$/);
      expect(["EUR", "USD", "GBP"]).toContain(decoded.currency);
      expect(Buffer.compare(Buffer.from(toBinary(createOrder.input, decoded)), call.bytes)).toBe(0);
    }
  });

  it("uses a new idempotency key for every fresh command", () => {
    const p = planner("create=1", 0, 0, 2);
    const keys = new Set<string>();
    for (let i = 0; i < 1000; i++) keys.add(requestOf(createOrder, p.next()).idempotencyKey);
    expect(keys.size).toBe(1000);
  });
});
