import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  CancelOrderRequestSchema,
  CreateOrderRequestSchema,
  PaymentStatus,
  ShipOrderRequestSchema,
  UpdatePaymentStatusRequestSchema,
} from "@orderly/contracts";
import { type CallKind, type Mix, pickKind } from "./mix.js";
import { encodeCreateOrder } from "./wire.js";

export type CommandMethod = "CreateOrder" | "UpdatePaymentStatus" | "ShipOrder" | "CancelOrder";

/** An order the generator created and knows the state of. Only idle orders sit in the book. */
export interface OrderRef {
  readonly id: string;
  version: number;
  readonly totalMinor: number;
  state: "placed" | "paid";
}

/** One call, planned: the encoded request and what the generator expects back. */
export interface PlannedCall {
  readonly kind: CallKind;
  readonly method: CommandMethod;
  readonly bytes: Buffer;
  /** The order the call is about, taken out of the book until the reply (undefined for a replay). */
  readonly order: OrderRef | undefined;
  /** `ok`: OK and duplicate = false; `duplicate`: OK and duplicate = true; `aborted`: ABORTED. */
  readonly expect: "ok" | "duplicate" | "aborted";
  /** State of the order after success: paid, or gone (shipped/cancelled orders leave the book). */
  readonly after: "placed" | "paid" | "gone";
}

export interface PlannerOptions {
  readonly mix: Mix;
  readonly rng: () => number;
  /** Distinct customer ids to spread orders over. */
  readonly customers: number;
  /** Most idle orders kept per state (the oldest are forgotten beyond it). */
  readonly bookCapacity?: number;
  /** Accepted requests kept for replay as duplicates. */
  readonly replayCapacity?: number;
  /** Distinct {customer, currency, items} combinations to draw orders from. */
  readonly tailPool?: number;
}

const CURRENCIES = ["EUR", "USD", "GBP"] as const;

/** The part of a CreateOrderRequest that does not have to be unique, encoded once. */
interface OrderTail {
  readonly bytes: Uint8Array;
  readonly totalMinor: number;
}

function randomTail(rng: () => number, customers: number): OrderTail {
  const itemCount = 1 + Math.floor(rng() * 3);
  const items = [];
  let totalMinor = 0;
  for (let i = 0; i < itemCount; i++) {
    const quantity = 1 + Math.floor(rng() * 5);
    const price = 100 + Math.floor(rng() * 9900);
    totalMinor += quantity * price;
    items.push({ sku: `SKU-${Math.floor(rng() * 5000)}`, quantity, unitPriceMinor: BigInt(price) });
  }
  const request = create(CreateOrderRequestSchema, {
    customerId: `customer-${Math.floor(rng() * customers)}`,
    currency: CURRENCIES[Math.floor(rng() * CURRENCIES.length)] ?? "EUR",
    items,
  });
  return { bytes: toBinary(CreateOrderRequestSchema, request), totalMinor };
}

/**
 * Builds valid commands from what the generator knows: creates orders, pays placed ones, ships paid ones, cancels,
 * replays accepted requests byte for byte (duplicates) and sends stale expected versions (conflicts). An order is
 * out of the book while a call on it is in flight, so the generator never races itself.
 */
export class CallPlanner {
  private readonly placed: OrderRef[] = [];
  private readonly paid: OrderRef[] = [];
  private readonly replay: { method: CommandMethod; bytes: Buffer }[] = [];
  private replayNext = 0;
  private seq = 0;
  private readonly runId = randomUUID().slice(0, 8);
  private readonly bookCapacity: number;
  private readonly replayCapacity: number;

  private readonly needsBook: boolean;
  private readonly tails: OrderTail[];

  constructor(private readonly options: PlannerOptions) {
    this.bookCapacity = options.bookCapacity ?? 20_000;
    this.replayCapacity = options.replayCapacity ?? 1024;
    const { weights, conflictRate } = options.mix;
    this.needsBook = weights.pay > 0 || weights.ship > 0 || weights.cancel > 0 || conflictRate > 0;
    this.tails = Array.from({ length: options.tailPool ?? 1024 }, () => randomTail(options.rng, options.customers));
  }

  /** Idle orders per state (for tests and the report). */
  get idle(): { placed: number; paid: number } {
    return { placed: this.placed.length, paid: this.paid.length };
  }

  next(): PlannedCall {
    const rng = this.options.rng;
    const kind = pickKind(this.options.mix, rng(), {
      placed: this.placed.length > 0,
      paid: this.paid.length > 0,
      replayable: this.replay.length > 0,
    });
    switch (kind) {
      case "create":
        return this.create();
      case "pay": {
        const order = takeRandom(this.placed, rng());
        return this.pay(order);
      }
      case "ship": {
        const order = takeRandom(this.paid, rng());
        return this.ship(order, order.version, "ok");
      }
      case "cancel": {
        const fromPaid = this.placed.length === 0 || (this.paid.length > 0 && rng() < 0.5);
        const order = takeRandom(fromPaid ? this.paid : this.placed, rng());
        return this.cancel(order, order.version, "ok", "cancel");
      }
      case "conflict": {
        // A stale version: one the order had before its last event, or, for a fresh order, one it never reaches
        // while the generator holds it (versions only grow, so a conflict is certain either way).
        const fromPaid = this.paid.length > 0;
        const order = takeRandom(fromPaid ? this.paid : this.placed, rng());
        const stale = order.version > 1 ? order.version - 1 : order.version + 1000;
        return this.cancel(order, stale, "aborted", "conflict");
      }
      case "duplicate": {
        const entry = this.replay[Math.floor(rng() * this.replay.length)] ?? this.replay[0];
        if (!entry) return this.create();
        return {
          kind: "duplicate",
          method: entry.method,
          bytes: entry.bytes,
          order: undefined,
          expect: "duplicate",
          after: "gone",
        };
      }
    }
  }

  /** Records the outcome of a planned call: on the expected outcome the order returns to the book. */
  settle(call: PlannedCall, expected: boolean, newVersion: number | undefined): void {
    const order = call.order;
    if (expected && call.expect === "ok") this.remember(call);
    if (!order) return;
    if (!expected) return; // state unknown now (e.g. UNAVAILABLE after the commit): forget the order
    if (call.expect === "aborted") {
      this.put(order); // unchanged
      return;
    }
    if (newVersion !== undefined) order.version = newVersion;
    if (call.after === "gone") return;
    order.state = call.after;
    this.put(order);
  }

  private put(order: OrderRef): void {
    // A mix of creates only never reads the book: keeping orders would only make the garbage collector copy them.
    if (!this.needsBook) return;
    const pool = order.state === "placed" ? this.placed : this.paid;
    if (pool.length >= this.bookCapacity) {
      // Forget the oldest idle order: O(1) swap with the last.
      const last = pool.pop();
      if (last && pool.length > 0) pool[0] = last;
    }
    pool.push(order);
  }

  private remember(call: PlannedCall): void {
    if (this.options.mix.duplicateRate <= 0) return;
    const entry = { method: call.method, bytes: call.bytes };
    if (this.replay.length < this.replayCapacity) this.replay.push(entry);
    else {
      this.replay[this.replayNext] = entry;
      this.replayNext = (this.replayNext + 1) % this.replayCapacity;
    }
  }

  private key(): string {
    this.seq += 1;
    return `lt-${this.runId}-${this.seq}`;
  }

  /**
   * CreateOrder bytes = the encoding of {idempotency_key, order_id} followed by a pre-encoded {customer_id,
   * currency, items} drawn from a pool: protobuf defines concatenated encodings as the merged message, and fields
   * 1–2 precede 3–5, so this is byte for byte toBinary of the whole request at the cost of writing two ASCII strings.
   */
  private create(): PlannedCall {
    const tail = this.tails[Math.floor(this.options.rng() * this.tails.length)] as OrderTail;
    const id = randomUUID();
    const bytes = encodeCreateOrder(this.key(), id, tail.bytes);
    return {
      kind: "create",
      method: "CreateOrder",
      bytes,
      order: { id, version: 0, totalMinor: tail.totalMinor, state: "placed" },
      expect: "ok",
      after: "placed",
    };
  }

  private pay(order: OrderRef): PlannedCall {
    const request = create(UpdatePaymentStatusRequestSchema, {
      idempotencyKey: this.key(),
      orderId: order.id,
      expectedVersion: BigInt(order.version),
      status: PaymentStatus.PAID,
      amountMinor: BigInt(order.totalMinor),
      paymentReference: `psp-${this.seq}`,
    });
    return {
      kind: "pay",
      method: "UpdatePaymentStatus",
      bytes: encode(toBinary(UpdatePaymentStatusRequestSchema, request)),
      order,
      expect: "ok",
      after: "paid",
    };
  }

  private ship(order: OrderRef, expectedVersion: number, expect: "ok" | "aborted"): PlannedCall {
    const request = create(ShipOrderRequestSchema, {
      idempotencyKey: this.key(),
      orderId: order.id,
      expectedVersion: BigInt(expectedVersion),
      carrier: "DHL",
      trackingNumber: `TRK${this.seq}`,
    });
    return {
      kind: "ship",
      method: "ShipOrder",
      bytes: encode(toBinary(ShipOrderRequestSchema, request)),
      order,
      expect,
      after: "gone",
    };
  }

  private cancel(order: OrderRef, expectedVersion: number, expect: "ok" | "aborted", kind: CallKind): PlannedCall {
    const request = create(CancelOrderRequestSchema, {
      idempotencyKey: this.key(),
      orderId: order.id,
      expectedVersion: BigInt(expectedVersion),
      reason: "customer request",
    });
    return {
      kind,
      method: "CancelOrder",
      bytes: encode(toBinary(CancelOrderRequestSchema, request)),
      order,
      expect,
      after: "gone",
    };
  }
}

/** Removes and returns a random element in O(1) (swap with the last). The caller checked the pool is not empty. */
function takeRandom(pool: OrderRef[], u: number): OrderRef {
  const i = Math.floor(u * pool.length);
  const chosen = pool[i] as OrderRef;
  const last = pool.pop() as OrderRef;
  if (i < pool.length) pool[i] = last;
  return chosen;
}

/** A Buffer view of the encoded bytes (no copy): grpc-js sends Buffers. */
function encode(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
