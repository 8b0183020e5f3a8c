import type { OrderSummaryReader, OrderSummaryView } from "./read-models.js";

/** A reader that can fetch many orders in one round trip (e.g. `where order_id = any($1)`). */
export interface OrderSummaryBatchReader {
  getOrderSummaries(orderIds: readonly string[]): Promise<OrderSummaryView[]>;
}

interface Pending {
  readonly orderId: string;
  readonly resolve: (view: OrderSummaryView | undefined) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Coalesces the GetOrderSummary reads that arrive in the same turn of the event loop into one query: under load
 * one round trip, one parse and one plan serve many calls; alone, a read waits for nothing but `setImmediate`.
 */
export class BatchingOrderSummaryReader implements OrderSummaryReader {
  private queue: Pending[] = [];
  private scheduled = false;
  private readonly maxBatch: number;

  constructor(
    private readonly reader: OrderSummaryBatchReader,
    options: { maxBatch?: number } = {},
  ) {
    this.maxBatch = options.maxBatch ?? 128;
  }

  getOrderSummary(orderId: string): Promise<OrderSummaryView | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ orderId, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    for (let i = 0; i < queue.length; i += this.maxBatch) void this.run(queue.slice(i, i + this.maxBatch));
  }

  private async run(batch: Pending[]): Promise<void> {
    try {
      const ids = [...new Set(batch.map((p) => p.orderId))];
      const views = await this.reader.getOrderSummaries(ids);
      const byId = new Map(views.map((v) => [v.orderId, v]));
      for (const p of batch) p.resolve(byId.get(p.orderId));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }
}
