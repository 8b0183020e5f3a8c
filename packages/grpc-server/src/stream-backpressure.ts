import { type EventEmitter, once } from "node:events";
import { ResourceExhaustedError } from "@orderly/eventsourcing";

/** Messages a server stream queues in grpc-js before the handler waits for the client (see server-stream-call.ts). */
export const STREAM_QUEUE_MESSAGES = 256;
/** Bytes a server stream written in framed batches queues in its HTTP/2 stream before the handler waits. */
export const STREAM_QUEUE_BYTES = 256 * 1024;

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Resolves once the stream has room again; rejects with ResourceExhaustedError when the client has not read for
 * `stallTimeoutMs` (the server has stopped producing meanwhile: memory stays bounded, and the client is told why).
 */
export function drained(call: EventEmitter, stallTimeoutMs: number | undefined): Promise<unknown> {
  if (stallTimeoutMs === undefined) return once(call, "drain");
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      clearTimeout(timer);
      resolve(undefined);
    };
    const timer = setTimeout(() => {
      call.off("drain", onDrain);
      reject(
        new ResourceExhaustedError(
          `the client read nothing for ${stallTimeoutMs} ms while the server had more to send: consumer too far ` +
            "behind, stream ended; call again from the last message received",
        ),
      );
    }, stallTimeoutMs);
    call.once("drain", onDrain);
  });
}
