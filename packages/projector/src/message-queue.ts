/**
 * The hand-over between the JetStream callback and the apply loop. Micro-batches form by themselves: while one batch
 * commits, the next messages queue up; when idle, a single message is taken at once (latency first). Its size is
 * bounded by the consumer's max_ack_pending, not here.
 */
export class MessageQueue<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Up to `max` items; waits at most `timeoutMs` for the first one (then returns an empty array). */
  async take(max: number, timeoutMs: number, signal?: AbortSignal): Promise<T[]> {
    if (this.items.length === 0 && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener("abort", done, { once: true });
        this.wake = done;
      });
    }
    return this.items.splice(0, max);
  }

  /** Empties the queue (the messages will be redelivered by JetStream). */
  clear(): T[] {
    return this.items.splice(0);
  }
}
