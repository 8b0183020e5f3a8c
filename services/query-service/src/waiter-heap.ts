/**
 * A binary min-heap keyed by target position, with each entry's index kept on the entry so a waiter that times out
 * or is cancelled is removed in O(log n) instead of lingering until its position arrives.
 */
export interface HeapEntry {
  readonly target: number;
  /** Maintained by the heap; -1 when the entry is not in it. */
  heapIndex: number;
}

export class WaiterHeap<T extends HeapEntry> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(entry: T): void {
    entry.heapIndex = this.items.length;
    this.items.push(entry);
    this.up(entry.heapIndex);
  }

  /** Removes and returns the entry with the lowest target. */
  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.removeAt(0);
    return top;
  }

  /** Removes `entry` if it is still in the heap; returns whether it was. */
  remove(entry: T): boolean {
    const index = entry.heapIndex;
    if (index < 0 || this.items[index] !== entry) return false;
    this.removeAt(index);
    return true;
  }

  private removeAt(index: number): void {
    const removed = this.items[index] as T;
    const last = this.items.pop() as T;
    removed.heapIndex = -1;
    if (index === this.items.length) return;
    this.items[index] = last;
    last.heapIndex = index;
    this.down(index);
    this.up(last.heapIndex);
  }

  private up(index: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.at(parent).target <= this.at(i).target) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(index: number): void {
    let i = index;
    const n = this.items.length;
    while (true) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && this.at(left).target < this.at(smallest).target) smallest = left;
      if (right < n && this.at(right).target < this.at(smallest).target) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  private at(index: number): T {
    return this.items[index] as T;
  }

  private swap(a: number, b: number): void {
    const x = this.at(a);
    const y = this.at(b);
    this.items[a] = y;
    this.items[b] = x;
    x.heapIndex = b;
    y.heapIndex = a;
  }
}
