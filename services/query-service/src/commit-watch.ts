/**
 * The store's commit notifications as wake-ups for subscriptions waiting at the head of the log. A notification is
 * only a wake-up: a woken subscription re-reads the store, so a lost or early one costs a read, never an event.
 *
 * Race-free without trusting a remembered maximum (a store restored from a backup goes back): a subscription takes a
 * `mark()` before it reads and waits with it; a commit announced after the mark and beyond its cursor wakes it at
 * once, even one that arrived between the read and the wait.
 */
export class CommitWatch {
  #seq = 0;
  #latest = 0;
  readonly #waiters = new Set<{ after: number; wake: () => void }>();

  /** The head the latest notification announced (0 before any). */
  get head(): number {
    return this.#latest;
  }

  /** How many notifications were seen so far: take it before a read, pass it to waitBeyond. */
  mark(): number {
    return this.#seq;
  }

  /** A commit announced `head` (or a reconnect read it): wakes every waiter below it. */
  advance(head: number): void {
    this.#seq++;
    this.#latest = head;
    for (const waiter of this.#waiters) if (waiter.after < head) waiter.wake();
  }

  /**
   * Resolves once a commit beyond `after` is announced after `mark`, after `maxMs` (a poll: a lost notification never
   * stalls a subscriber), or when `signal` aborts; whichever comes first.
   */
  waitBeyond(after: number, mark: number, maxMs: number, signal: AbortSignal): Promise<void> {
    if ((this.#seq > mark && this.#latest > after) || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        after,
        wake: () => {
          this.#waiters.delete(waiter);
          clearTimeout(timer);
          signal.removeEventListener("abort", waiter.wake);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, maxMs);
      signal.addEventListener("abort", waiter.wake, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Subscriptions waiting at the head now. */
  get waiting(): number {
    return this.#waiters.size;
  }
}
