import type { CommitTimes } from "./lag.js";
import type {
  CheckpointReader,
  CustomerOrdersPage,
  CustomerOrdersReader,
  OrderSummaryReader,
  OrderSummaryView,
} from "./read-models.js";

/**
 * In-memory read models for in-process tests: the same ports as the Postgres and Redis ones, newest first by
 * created_at then position, with keyset cursors (so pages stay stable while orders arrive).
 */
export class InMemoryReadModels implements OrderSummaryReader, CustomerOrdersReader, CommitTimes {
  readonly orders = new Map<string, OrderSummaryView>();
  /** Commit time of each global position (the `events` table's committed_at). */
  readonly commits = new Map<number, Date>();
  readonly summariesCheckpoint = new MutableCheckpoint();
  readonly customerOrdersCheckpoint = new MutableCheckpoint();
  failWith: Error | undefined;

  put(view: OrderSummaryView): void {
    this.orders.set(view.orderId, view);
  }

  async getOrderSummary(orderId: string): Promise<OrderSummaryView | undefined> {
    if (this.failWith) throw this.failWith;
    return this.orders.get(orderId);
  }

  async listCustomerOrders(customerId: string, page: { limit: number; after?: string }): Promise<CustomerOrdersPage> {
    if (this.failWith) throw this.failWith;
    const all = [...this.orders.values()]
      .filter((o) => o.customerId === customerId)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.lastPosition - a.lastPosition);
    let start = 0;
    if (page.after !== undefined) {
      const [time, position] = page.after.split(":").map(Number) as [number, number];
      start = all.findIndex(
        (o) => o.createdAt.getTime() < time || (o.createdAt.getTime() === time && o.lastPosition < position),
      );
      if (start < 0) start = all.length;
    }
    const orders = all.slice(start, start + page.limit);
    const last = orders.at(-1);
    const more = start + page.limit < all.length;
    return more && last ? { orders, next: `${last.createdAt.getTime()}:${last.lastPosition}` } : { orders };
  }

  async committedAt(positions: readonly number[]): Promise<Map<number, Date>> {
    const result = new Map<number, Date>();
    for (const position of positions) {
      const at = this.commits.get(position);
      if (at) result.set(position, at);
    }
    return result;
  }
}

export class MutableCheckpoint implements CheckpointReader {
  value = 0;
  reads = 0;
  failWith: Error | undefined;
  /** When set, reads wait for it (to test races). */
  gate: Promise<void> | undefined;

  async checkpoint(): Promise<number> {
    this.reads++;
    const value = this.value;
    if (this.gate !== undefined) await this.gate;
    if (this.failWith) throw this.failWith;
    return value;
  }
}
