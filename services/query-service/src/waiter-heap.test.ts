import { describe, expect, it } from "vitest";
import { WaiterHeap } from "./waiter-heap.js";

describe("WaiterHeap", () => {
  it("pops in target order after random pushes and removals", () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const heap = new WaiterHeap<{ target: number; heapIndex: number }>();
    const live = new Set<{ target: number; heapIndex: number }>();
    for (let i = 0; i < 5_000; i++) {
      if (live.size > 0 && random() < 0.3) {
        const victim = [...live][Math.floor(random() * live.size)] as { target: number; heapIndex: number };
        expect(heap.remove(victim)).toBe(true);
        expect(heap.remove(victim)).toBe(false);
        live.delete(victim);
      } else {
        const entry = { target: Math.floor(random() * 1_000), heapIndex: -1 };
        heap.push(entry);
        live.add(entry);
      }
    }
    expect(heap.size).toBe(live.size);
    const popped: number[] = [];
    for (let e = heap.pop(); e; e = heap.pop()) popped.push(e.target);
    expect(popped).toEqual([...live].map((e) => e.target).sort((a, b) => a - b));
  });
});
