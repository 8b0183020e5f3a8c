import type { OrderSummaryView } from "./order-summary.js";

/**
 * The summaries a projection wrote last, so a batch does not have to read back what the same writer just wrote. Only
 * valid while this writer is the only one and the model was not swapped or lost: the projections clear it whenever
 * the checkpoint compare-and-set fails, the generation/epoch changes, or anything throws.
 */
export class SummaryCache {
  private readonly entries = new Map<string, OrderSummaryView>();

  constructor(private readonly capacity = 100_000) {}

  get size(): number {
    return this.entries.size;
  }

  get(orderId: string): OrderSummaryView | undefined {
    return this.capacity > 0 ? this.entries.get(orderId) : undefined;
  }

  remember(summary: OrderSummaryView): void {
    if (this.capacity <= 0) return;
    this.entries.delete(summary.orderId);
    this.entries.set(summary.orderId, summary);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  clear(): void {
    this.entries.clear();
  }

  /** Splits `orderIds` into cached summaries and the ids that must be read. */
  lookup(orderIds: readonly string[]): { found: Map<string, OrderSummaryView>; missing: string[] } {
    const found = new Map<string, OrderSummaryView>();
    const missing: string[] = [];
    for (const id of orderIds) {
      const hit = this.get(id);
      if (hit) found.set(id, hit);
      else missing.push(id);
    }
    return { found, missing };
  }
}
