import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { backoffDelay } from "@orderly/retry";

export interface RetryPolicy {
  /** Attempts in all, the first included (default 4). */
  readonly maxAttempts?: number;
  /** Backoff before the second attempt (default 50 ms); doubles each time, with full jitter. */
  readonly initialBackoffMs?: number;
  /** Upper bound of one backoff (default 1 s). */
  readonly maxBackoffMs?: number;
}

/** Which unary requests may be sent twice. */
export type IdempotencyTest = (request: {
  method: { parent: { typeName: string }; name: string };
  message: unknown;
}) => boolean;

/**
 * Safe to repeat: queries (no side effects), and commands that carry an idempotency key (the server answers a repeat
 * with the first outcome). A command without a key is never retried: a lost answer might hide a write.
 */
export const isIdempotent: IdempotencyTest = (request) => {
  if (request.method.parent.typeName === "orderly.orders.v1.QueryService") return true;
  const key = (request.message as { idempotencyKey?: unknown }).idempotencyKey;
  return typeof key === "string" && key !== "";
};

/**
 * Retries UNAVAILABLE (the server or a dependency is briefly down: nothing was done) for idempotent unary calls,
 * with exponential backoff and full jitter, within the call's deadline (the transport's signal aborts the wait).
 * Every other code, and any streaming call, fails at once.
 */
export function retryInterceptor(policy: RetryPolicy = {}, idempotent: IdempotencyTest = isIdempotent): Interceptor {
  const maxAttempts = policy.maxAttempts ?? 4;
  const initial = policy.initialBackoffMs ?? 50;
  const max = policy.maxBackoffMs ?? 1_000;
  return (next) => async (request) => {
    if (request.stream || maxAttempts <= 1 || !idempotent(request)) {
      return next(request);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(request);
      } catch (error) {
        const code = ConnectError.from(error).code;
        if (code !== Code.Unavailable || attempt >= maxAttempts || request.signal.aborted) throw error;
        const wait = backoffDelay(attempt - 1, { baseMs: initial, maxMs: max, jitter: "full" });
        await sleep(wait, undefined, { signal: request.signal }).catch(() => {
          throw ConnectError.from(request.signal.reason ?? new Error("aborted"));
        });
      }
    }
  };
}
