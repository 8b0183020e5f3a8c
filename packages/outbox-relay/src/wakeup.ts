/**
 * A level-triggered wake-up: `fire()` before `wait()` is not lost (the next wait returns at once), so a notification
 * that arrives while the relay is busy reading still makes it read again.
 */
export class Wakeup {
  #fired = false;
  #waiter: (() => void) | undefined;

  fire(): void {
    this.#fired = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /** Forgets an earlier fire: call right before a read that will see everything committed so far. */
  clear(): void {
    this.#fired = false;
  }

  /** Resolves true when fired, false after `timeoutMs` or once `until` settles (whichever comes first). */
  wait(timeoutMs: number, until?: Promise<unknown>): Promise<boolean> {
    if (this.#fired) {
      this.#fired = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      let finished = false;
      const finish = (woken: boolean) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        if (this.#waiter === waiter) this.#waiter = undefined;
        resolve(woken);
      };
      const waiter = () => {
        this.#fired = false;
        finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.#waiter = waiter;
      until?.then(
        () => finish(false),
        () => finish(false),
      );
    });
  }
}
