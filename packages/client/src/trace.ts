import { AsyncLocalStorage } from "node:async_hooks";
import type { Interceptor } from "@connectrpc/connect";

const current = new AsyncLocalStorage<string>();

/** Runs `fn` with `traceparent` as the trace context of every Orderly call it makes (W3C Trace Context). */
export function withTraceparent<T>(traceparent: string | undefined, fn: () => T): T {
  return traceparent ? current.run(traceparent, fn) : fn();
}

/** The traceparent set by the innermost `withTraceparent`, if any. */
export function currentTraceparent(): string | undefined {
  return current.getStore();
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Sends the caller's trace context as the `traceparent` header, unless the call sets one itself. The source is
 * `source()` (default: the `withTraceparent` context); a malformed value is dropped rather than propagated.
 */
export function traceparentInterceptor(source: () => string | undefined = currentTraceparent): Interceptor {
  return (next) => (request) => {
    if (!request.header.has("traceparent")) {
      const traceparent = source();
      if (traceparent && TRACEPARENT.test(traceparent)) request.header.set("traceparent", traceparent);
    }
    return next(request);
  };
}
