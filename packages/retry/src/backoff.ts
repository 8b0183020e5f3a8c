/**
 * How much of the capped exponential delay is randomised:
 * - `half`: between half and all of it (never retries sooner than half the step; the default),
 * - `full`: anywhere from 0 to all of it (AWS "full jitter": spreads a thundering herd the most),
 * - `none`: exactly the step.
 */
export type Jitter = "half" | "full" | "none";

export interface BackoffOptions {
  /** The first step (attempt 0). */
  readonly baseMs: number;
  /** No step is longer than this. */
  readonly maxMs: number;
  readonly jitter?: Jitter;
}

/** The delay before retry number `attempt` (0-based): min(max, base · 2^attempt), jittered. */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const step = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  switch (options.jitter ?? "half") {
    case "half":
      return step / 2 + Math.random() * (step / 2);
    case "full":
      return Math.random() * step;
    case "none":
      return step;
  }
}

/** `backoffDelay` with the attempt counted: `next()` after each failure, `reset()` after a success. */
export class Backoff {
  #attempt = 0;
  readonly options: BackoffOptions;

  constructor(options: BackoffOptions = { baseMs: 100, maxMs: 5_000 }) {
    this.options = options;
  }

  get attempt(): number {
    return this.#attempt;
  }

  next(): number {
    const delay = backoffDelay(this.#attempt, this.options);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
