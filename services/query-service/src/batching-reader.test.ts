import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BatchingOrderSummaryReader, type OrderSummaryBatchReader } from "./batching-reader.js";
import type { OrderSummaryView } from "./read-models.js";

function view(orderId: string): OrderSummaryView {
  const at = new Date(1_700_000_000_000);
  return {
    orderId,
    customerId: "c",
    status: "placed",
    paymentStatus: "pending",
    currency: "EUR",
    totalMinor: 1,
    paidMinor: 0,
    itemCount: 1,
    version: 1,
    createdAt: at,
    updatedAt: at,
    lastPosition: 1,
  };
}

class Recording implements OrderSummaryBatchReader {
  readonly calls: string[][] = [];
  readonly known = new Map<string, OrderSummaryView>();
  fail = false;
  async getOrderSummaries(orderIds: readonly string[]): Promise<OrderSummaryView[]> {
    this.calls.push([...orderIds]);
    if (this.fail) throw new Error("connection lost");
    return orderIds.flatMap((id) => (this.known.has(id) ? [this.known.get(id) as OrderSummaryView] : []));
  }
}

describe("BatchingOrderSummaryReader", () => {
  it("answers concurrent reads with one query, each with its own order or undefined", async () => {
    const inner = new Recording();
    const ids = Array.from({ length: 10 }, () => randomUUID());
    for (const id of ids.slice(0, 8)) inner.known.set(id, view(id));
    const reader = new BatchingOrderSummaryReader(inner);
    const results = await Promise.all([...ids, ids[0] as string].map((id) => reader.getOrderSummary(id)));
    expect(inner.calls).toHaveLength(1);
    expect(inner.calls[0]).toHaveLength(10); // the duplicate id is asked once
    expect(results.map((r) => r?.orderId)).toEqual([...ids.slice(0, 8), undefined, undefined, ids[0]]);
  });

  it("splits large bursts into batches of at most maxBatch", async () => {
    const inner = new Recording();
    const reader = new BatchingOrderSummaryReader(inner, { maxBatch: 4 });
    await Promise.all(Array.from({ length: 10 }, () => reader.getOrderSummary(randomUUID())));
    expect(inner.calls.map((c) => c.length)).toEqual([4, 4, 2]);
  });

  it("fails every read of a failed batch, and recovers for the next", async () => {
    const inner = new Recording();
    const reader = new BatchingOrderSummaryReader(inner);
    inner.fail = true;
    const failed = await Promise.allSettled([reader.getOrderSummary("a"), reader.getOrderSummary("b")]);
    expect(failed.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    inner.fail = false;
    await expect(reader.getOrderSummary("a")).resolves.toBeUndefined();
  });

  it("reads in sequence one query each", async () => {
    const inner = new Recording();
    const reader = new BatchingOrderSummaryReader(inner);
    await reader.getOrderSummary("a");
    await reader.getOrderSummary("b");
    expect(inner.calls).toEqual([["a"], ["b"]]);
  });
});
