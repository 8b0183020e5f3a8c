import { isDomainError, UnavailableError } from "@orderly/eventsourcing";

// What both services' handlers (grpc-handlers.ts, event-handlers.ts) do around every call: refuse it until the service
// has started, and time it by RPC and outcome code.

/** Times each call by RPC and outcome code (metrics). */
export type Observe = (rpc: string, code: string, seconds: number) => void;

/** How each RPC of a service answers: once ("unary") or with a stream of messages ("stream"). */
export type RpcKinds<H> = { readonly [K in keyof H]: "unary" | "stream" };

/**
 * Handlers that pass each call to `get()`'s once the service has started; until then (waiting for its dependencies,
 * health NOT_SERVING) every call is UNAVAILABLE, which clients retry: a unary call's promise rejects, a stream fails
 * when its first message is asked for.
 */
export function whenStarted<H extends object>(get: () => H | undefined, kinds: RpcKinds<H>): H {
  const started = (name: keyof H): ((...args: unknown[]) => unknown) => {
    const handlers = get();
    if (!handlers) throw new UnavailableError("the query service is starting: waiting for its dependencies");
    return (handlers[name] as (...args: unknown[]) => unknown).bind(handlers);
  };
  const delegating: Partial<Record<keyof H, unknown>> = {};
  for (const name of Object.keys(kinds) as (keyof H)[]) {
    delegating[name] =
      kinds[name] === "stream"
        ? async function* (...args: unknown[]) {
            yield* started(name)(...args) as AsyncIterable<unknown>;
          }
        : async (...args: unknown[]) => started(name)(...args);
  }
  return delegating as H;
}

/** A unary call, observed with "ok" or its error's code. */
export async function timed<T>(observe: Observe, rpc: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let code = "ok";
  try {
    return await run();
  } catch (error) {
    code = codeOf(error);
    throw error;
  } finally {
    observe(rpc, code, (performance.now() - started) / 1000);
  }
}

/**
 * A server stream, observed when it ends: "ok", "cancelled" when the client went away, or `errorCode(error)` (which
 * may look at the signal too).
 */
export async function* timedStream<T>(
  observe: Observe,
  rpc: string,
  signal: AbortSignal,
  errorCode: (error: unknown) => string,
  stream: () => AsyncIterable<T>,
): AsyncGenerator<T> {
  const started = performance.now();
  let code = "ok";
  try {
    yield* stream();
    if (signal.aborted) code = "cancelled";
  } catch (error) {
    code = errorCode(error);
    throw error;
  } finally {
    observe(rpc, code, (performance.now() - started) / 1000);
  }
}

/** A domain error's code; anything else is "internal". */
export function codeOf(error: unknown): string {
  return isDomainError(error) ? error.code : "internal";
}
