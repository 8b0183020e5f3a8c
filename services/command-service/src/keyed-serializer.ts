/**
 * Runs tasks one at a time per key, in arrival order; different keys run concurrently. The command pipeline uses it
 * per stream, so commands on one order inside this process never race each other for a version (the store's
 * optimistic check still guards against other processes).
 */
export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    const result = previous === undefined ? task() : previous.then(task);
    // Settles when the task does, either way; the last task of a key removes it.
    const tail: Promise<void> = result.then(
      () => this.#settled(key, tail),
      () => this.#settled(key, tail),
    );
    this.#tails.set(key, tail);
    return result;
  }

  #settled(key: string, tail: Promise<void>): void {
    if (this.#tails.get(key) === tail) this.#tails.delete(key);
  }

  /** Keys with a task queued or running. */
  get size(): number {
    return this.#tails.size;
  }
}
