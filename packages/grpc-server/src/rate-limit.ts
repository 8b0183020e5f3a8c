import { ResourceExhaustedError } from "@orderly/eventsourcing";

/** Per-caller limits of a gRPC server. */
export interface CallerLimitOptions {
  /** Calls a caller may start per second, on average (token bucket refill rate); default unlimited. */
  readonly ratePerSecond?: number | undefined;
  /** Calls a caller may start at once after being idle (bucket size; default one second's worth). */
  readonly burst?: number | undefined;
  /** Server streams one caller may hold open at once (default unlimited). */
  readonly maxStreamsPerCaller?: number | undefined;
  /** Callers tracked at once; past it the longest-tracked one is forgotten (default 100,000). */
  readonly maxCallers?: number | undefined;
}

/** RESOURCE_EXHAUSTED with a hint: the server sends `retryAfterMs` as the `retry-after-ms` trailer. */
export class RateLimitedError extends ResourceExhaustedError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
    this.name = "RateLimitedError";
  }
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per caller (the token's `sub`, else the peer's address): each call takes one token, tokens come back
 * at `ratePerSecond` up to `burst`. Memory is bounded by `maxCallers`: forgetting a caller only gives it a full bucket.
 */
export class CallerRateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxCallers: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: CallerLimitOptions & { readonly ratePerSecond: number }) {
    if (!(options.ratePerSecond > 0)) throw new Error("ratePerSecond must be > 0");
    this.#rate = options.ratePerSecond / 1000;
    this.#burst = Math.max(1, Math.floor(options.burst ?? options.ratePerSecond));
    this.#maxCallers = options.maxCallers ?? 100_000;
  }

  /** Takes a token for `caller`: 0 when the call may go, else the milliseconds until the next token. */
  take(caller: string, now: number = performance.now()): number {
    let bucket = this.#buckets.get(caller);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxCallers) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      bucket = { tokens: this.#burst, updatedAt: now };
      this.#buckets.set(caller, bucket);
    } else {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.updatedAt) * this.#rate);
      bucket.updatedAt = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / this.#rate);
  }

  get callers(): number {
    return this.#buckets.size;
  }
}

/** Open server streams per caller, capped. */
export class StreamCounter {
  readonly #open = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Counts a new stream of `caller`; false (and nothing counted) when it already holds `max`. */
  open(caller: string): boolean {
    const count = this.#open.get(caller) ?? 0;
    if (count >= this.max) return false;
    this.#open.set(caller, count + 1);
    return true;
  }

  close(caller: string): void {
    const count = this.#open.get(caller) ?? 0;
    if (count <= 1) this.#open.delete(caller);
    else this.#open.set(caller, count - 1);
  }
}

/** `500/s`, `30000/m` or `10/ms`... only per second and per minute: calls per second, or undefined when malformed. */
export function parseRate(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*\/\s*(s|sec|second|m|min|minute)$/.exec(raw.trim());
  if (match === null) return undefined;
  const count = Number(match[1]);
  if (!(count > 0)) return undefined;
  return match[2]?.startsWith("m") ? count / 60 : count;
}

/** The key a caller is limited by: its token subject, else its address without the port. */
export function callerKey(subject: string | undefined, peer: string): string {
  if (subject !== undefined) return `sub:${subject}`;
  // grpc-js peers look like `127.0.0.1:51234` or `[::1]:51234`.
  const colon = peer.lastIndexOf(":");
  return `addr:${colon > 0 ? peer.slice(0, colon) : peer}`;
}
