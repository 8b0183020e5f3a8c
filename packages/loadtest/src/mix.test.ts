import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CancelOrderRequestSchema,
  CreateOrderRequestSchema,
  PaymentStatus,
  ShipOrderRequestSchema,
  UpdatePaymentStatusRequestSchema,
} from "@orderly/contracts";
import { describe, expect, it } from "vitest";
import { type CallKind, createRng, makeMix, parseMixWeights, parseRate, pickKind } from "./mix.js";
import { CallPlanner } from "./planner.js";

const all = { placed: true, paid: true, replayable: true };

describe("mix parsing", () => {
  it("reads weights and rates", () => {
    expect(parseMixWeights("create=40,pay=35,ship=20,cancel=5")).toEqual({ create: 40, pay: 35, ship: 20, cancel: 5 });
    expect(parseMixWeights("create=1")).toEqual({ create: 1, pay: 0, ship: 0, cancel: 0 });
    expect(parseRate("2%", "r")).toBe(0.02);
    expect(parseRate("0.25", "r")).toBe(0.25);
  });

  it("rejects what it cannot use", () => {
    expect(() => parseMixWeights("pay=1")).toThrow(/create > 0/);
    expect(() => parseMixWeights("create=1,refund=2")).toThrow(/bad mix entry/);
    expect(() => parseRate("150%", "r")).toThrow(/between 0 and 1/);
    expect(() => parseRate("often", "r")).toThrow(/fraction/);
    expect(() => makeMix({ create: 1, pay: 0, ship: 0, cancel: 0 }, 0.6, 0.5)).toThrow(/must not exceed 1/);
  });
});

describe("pickKind", () => {
  const mix = makeMix({ create: 40, pay: 30, ship: 20, cancel: 10 }, 0.1, 0.1);

  it("maps the unit interval onto duplicates, conflicts, then the weighted commands", () => {
    const at = (u: number) => pickKind(mix, u, all);
    expect([at(0), at(0.0999), at(0.1), at(0.1999)]).toEqual(["duplicate", "duplicate", "conflict", "conflict"]);
    // The remaining 0.8 is split 40/30/20/10.
    expect([at(0.2), at(0.5199), at(0.521), at(0.7599), at(0.761), at(0.9199), at(0.921), at(0.9999)]).toEqual([
      "create",
      "create",
      "pay",
      "pay",
      "ship",
      "ship",
      "cancel",
      "cancel",
    ]);
  });

  it("falls back to create when the picked kind has nothing to act on", () => {
    const none = { placed: false, paid: false, replayable: false };
    for (const u of [0.05, 0.15, 0.6, 0.8, 0.95]) expect(pickKind(mix, u, none)).toBe("create");
    expect(pickKind(mix, 0.8, { placed: true, paid: false, replayable: false })).toBe("create"); // ship needs paid
    expect(pickKind(mix, 0.6, { placed: false, paid: true, replayable: false })).toBe("create"); // pay needs placed
    expect(pickKind(mix, 0.95, { placed: false, paid: true, replayable: false })).toBe("cancel");
  });

  it("draws kinds in proportion to the mix over many calls", () => {
    const rng = createRng(42);
    const counts: Record<string, number> = {};
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const k = pickKind(mix, rng(), all);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    const share = (k: CallKind) => (counts[k] ?? 0) / n;
    expect(share("duplicate")).toBeCloseTo(0.1, 2);
    expect(share("conflict")).toBeCloseTo(0.1, 2);
    expect(share("create")).toBeCloseTo(0.32, 2);
    expect(share("pay")).toBeCloseTo(0.24, 2);
    expect(share("ship")).toBeCloseTo(0.16, 2);
    expect(share("cancel")).toBeCloseTo(0.08, 2);
  });

  it("is reproducible for a seed", () => {
    const a = createRng(7);
    const b = createRng(7);
    const c = createRng(8);
    const seqA = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(seqA);
    expect([c(), c(), c()]).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});

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

  it("builds valid follow-up commands from the state it learned", () => {
    const p = planner("create=1,pay=1000");
    const first = p.next();
    expect(first).toMatchObject({ kind: "create", method: "CreateOrder", expect: "ok", after: "placed" });
    const created = fromBinary(CreateOrderRequestSchema, first.bytes);
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
    const request = fromBinary(UpdatePaymentStatusRequestSchema, pay.bytes);
    expect(request).toMatchObject({ orderId: created.orderId, status: PaymentStatus.PAID, expectedVersion: 1n });
    expect(Number(request.amountMinor)).toBe(total);
    expect(p.idle).toEqual({ placed: 0, paid: 0 });
    p.settle(pay, true, 2);
    expect(p.idle).toEqual({ placed: 0, paid: 1 });
  });

  it("ships paid orders with their version, and they leave the book", () => {
    const p = planner("create=1,pay=1000,ship=1000", 0, 0, 3);
    const create = p.next();
    expect(create.kind).toBe("create");
    p.settle(create, true, 1);
    const pay = nextOf(p, "pay");
    p.settle(pay, true, 2);
    const ship = nextOf(p, "ship");
    expect(fromBinary(ShipOrderRequestSchema, ship.bytes)).toMatchObject({
      orderId: create.order?.id,
      expectedVersion: 2n,
    });
    p.settle(ship, true, 3);
    expect(p.idle).toEqual({ placed: 0, paid: 0 });
  });

  it("sends conflicts with a stale expected_version and keeps the order on ABORTED", () => {
    const p = planner("create=1", 0, 1, 5);
    const c1 = p.next();
    expect(c1.kind).toBe("create"); // nothing to conflict with yet
    p.settle(c1, true, 1);
    const c2 = p.next();
    expect(c2).toMatchObject({ kind: "conflict", method: "CancelOrder", expect: "aborted" });
    const request = fromBinary(CancelOrderRequestSchema, c2.bytes);
    expect(request.orderId).toBe(c1.order?.id);
    expect(Number(request.expectedVersion)).not.toBe(1);
    p.settle(c2, true, undefined);
    expect(p.idle).toEqual({ placed: 1, paid: 0 });
  });

  it("replays accepted requests byte for byte as duplicates", () => {
    const p = planner("create=1", 1, 0, 9);
    const first = p.next();
    expect(first.kind).toBe("create"); // nothing accepted to replay yet
    p.settle(first, true, 1);
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
    const planner = new CallPlanner({
      mix: makeMix(parseMixWeights("create=1"), 0, 0),
      rng: createRng(4),
      customers: 10,
    });
    for (let i = 0; i < 50; i++) {
      const call = planner.next();
      const decoded = fromBinary(CreateOrderRequestSchema, call.bytes);
      expect(decoded.idempotencyKey).toMatch(/^lt-[0-9a-f]{8}-\d+$/);
      expect(decoded.orderId).toBe(call.order?.id);
      expect(decoded.customerId).toMatch(/^customer-\d$/);
      expect(["EUR", "USD", "GBP"]).toContain(decoded.currency);
      expect(Buffer.compare(Buffer.from(toBinary(CreateOrderRequestSchema, decoded)), call.bytes)).toBe(0);
    }
  });

  it("uses a new idempotency key for every fresh command", () => {
    const planner = new CallPlanner({
      mix: makeMix(parseMixWeights("create=1"), 0, 0),
      rng: createRng(2),
      customers: 10,
    });
    const keys = new Set<string>();
    for (let i = 0; i < 1000; i++) keys.add(fromBinary(CreateOrderRequestSchema, planner.next().bytes).idempotencyKey);
    expect(keys.size).toBe(1000);
  });
});
