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
 *
 * Two generations of at most `capacity` entries each (the "hashlru" scheme): writes go to the young map; when it is
 * full it becomes the old one and the previous old map is dropped whole; a read from the old map moves the entry to
 * the young one. Every operation is O(1). (Evicting the oldest entry of a single Map with `keys().next()` looks O(1)
 * but V8 scans the deleted slots at the front of the table: 10 µs per insert at 10,000 entries.)
 */
export class OrderCache {
  #young = new Map<string, CachedOrder>();
  #old = new Map<string, CachedOrder>();

  constructor(readonly capacity: number) {}

  get(streamId: string): CachedOrder | undefined {
    const young = this.#young.get(streamId);
    if (young !== undefined) return young;
    const old = this.#old.get(streamId);
    if (old !== undefined) {
      this.#old.delete(streamId);
      this.#insert(streamId, old);
    }
    return old;
  }

  set(streamId: string, entry: CachedOrder): void {
    if (this.capacity <= 0) return;
    this.#old.delete(streamId);
    if (this.#young.has(streamId)) this.#young.set(streamId, entry);
    else this.#insert(streamId, entry);
  }

  delete(streamId: string): void {
    this.#young.delete(streamId);
    this.#old.delete(streamId);
  }

  /** Entries held: between `capacity` and 2 × `capacity` once warm. */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  #insert(streamId: string, entry: CachedOrder): void {
    this.#young.set(streamId, entry);
    if (this.#young.size >= this.capacity) {
      this.#old = this.#young;
      this.#young = new Map();
    }
  }
}
