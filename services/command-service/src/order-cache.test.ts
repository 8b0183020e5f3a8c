import type { Order } from "@orderly/orders-domain";
import { describe, expect, it } from "vitest";
import { OrderCache } from "./order-cache.js";

const order = (orderId: string): Order => ({
  status: "placed",
  orderId,
  customerId: "c",
  currency: "EUR",
  paymentStatus: "pending",
  totalMinor: 1,
  paidMinor: 0,
});

describe("OrderCache", () => {
  it("evicts the least recently used entry beyond its capacity", () => {
    const cache = new OrderCache(2);
    cache.set("a", { state: order("a"), version: 1 });
    cache.set("b", { state: order("b"), version: 1 });
    expect(cache.get("a")?.version).toBe(1); // a is now the most recently used
    cache.set("c", { state: order("c"), version: 1 });
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBeDefined();
    expect(cache.get("c")).toBeDefined();
    expect(cache.size).toBe(2);
  });

  it("replaces and deletes entries; capacity 0 caches nothing", () => {
    const cache = new OrderCache(10);
    cache.set("a", { state: order("a"), version: 1 });
    cache.set("a", { state: order("a"), version: 2 });
    expect(cache.get("a")?.version).toBe(2);
    cache.delete("a");
    expect(cache.get("a")).toBeUndefined();
    const off = new OrderCache(0);
    off.set("a", { state: order("a"), version: 1 });
    expect(off.get("a")).toBeUndefined();
  });
});
