import type { Order } from "@orderly/orders-domain";

/** An order's decided state at a stream version. */
export interface CachedOrder {
  readonly state: Order;
  readonly version: number;
}

/**
 * A small LRU of decided order state per stream, so the hot path skips the read. It may be stale (another process
 * wrote, a crash after commit): a stale entry only costs a version conflict, or a refused decision that is re-checked
 * against a fresh read, never a wrong answer.
 */
export class OrderCache {
  readonly #entries = new Map<string, CachedOrder>();

  constructor(readonly capacity: number) {}

  get(streamId: string): CachedOrder | undefined {
    const entry = this.#entries.get(streamId);
    if (entry !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.#entries.delete(streamId);
      this.#entries.set(streamId, entry);
    }
    return entry;
  }

  set(streamId: string, entry: CachedOrder): void {
    if (this.capacity <= 0) return;
    this.#entries.delete(streamId);
    this.#entries.set(streamId, entry);
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  delete(streamId: string): void {
    this.#entries.delete(streamId);
  }

  get size(): number {
    return this.#entries.size;
  }
}
