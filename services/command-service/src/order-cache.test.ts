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
const entry = (id: string, version = 1) => ({ state: order(id), version });

describe("OrderCache", () => {
  it("keeps recently used entries and forgets the least recently used ones", () => {
    const cache = new OrderCache(3);
    for (const id of ["a", "b", "c"]) cache.set(id, entry(id));
    // The young generation filled up at "c" and became the old one.
    expect(cache.get("a")).toBeDefined(); // a moves back to the young generation
    for (const id of ["d", "e"]) cache.set(id, entry(id));
    // Young is full again (a, d, e): b and c, not used since, are dropped.
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("c")).toBeUndefined();
    for (const id of ["a", "d", "e"]) expect(cache.get(id)).toBeDefined();
    expect(cache.size).toBeLessThanOrEqual(6);
  });

  it("holds at most twice its capacity however many orders pass through", () => {
    const cache = new OrderCache(100);
    for (let i = 0; i < 10_000; i++) cache.set(`order-${i}`, entry(`${i}`));
    expect(cache.size).toBeLessThanOrEqual(200);
    expect(cache.size).toBeGreaterThanOrEqual(100);
    expect(cache.get("order-9999")).toBeDefined();
    expect(cache.get("order-0")).toBeUndefined();
  });

  it("replaces and deletes entries in either generation; capacity 0 caches nothing", () => {
    const cache = new OrderCache(2);
    cache.set("a", entry("a", 1));
    cache.set("b", entry("b", 1)); // a and b are now old
    cache.set("a", entry("a", 2));
    expect(cache.get("a")?.version).toBe(2);
    cache.delete("a");
    cache.delete("b");
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("b")).toBeUndefined();
    const off = new OrderCache(0);
    off.set("a", entry("a"));
    expect(off.get("a")).toBeUndefined();
  });
});
