import type { EventEmitter } from "node:events";
import type { ServerWritableStream } from "@grpc/grpc-js";

// The one module that reaches into @grpc/grpc-js's internals (ADR 0017 §3, ADR 0018). Written against 1.14.x; what it
// touches is listed in `GRPC_JS_INTERNALS` and checked by grpc-js.int.test.ts, which fails on an upgrade that moves any
// of it. When the shape is not found at run time, `framedWriter` returns undefined and callers fall back to the public
// per-message `call.write`: slower, never wrong.
//
// Why: grpc-js sends each message of a server stream as its own write (a copy into a new framed buffer, a trip through
// two Writable streams, one HTTP/2 DATA write). A catch-up stream of small messages spends most of its CPU there;
// writing a whole page of already framed messages as one HTTP/2 write removes that per-message cost.

/** What this module relies on, for the upgrade test and the ADR. */
export const GRPC_JS_INTERNALS = [
  "ServerWritableStreamImpl.call: the call object (BaseServerInterceptingCall when the server has no interceptors)",
  "BaseServerInterceptingCall.stream: the call's http2.ServerHttp2Stream",
  "BaseServerInterceptingCall.maybeSendMetadata(): sends the response headers once, before the first message",
  "BaseServerInterceptingCall.checkCancelled(): true once the stream is closed or cancelled",
  "sendStatus() ends the HTTP/2 stream after what was written to it (trailers on 'wantTrailers')",
] as const;

interface BaseCallShape {
  readonly stream: Http2StreamShape;
  maybeSendMetadata(): void;
  checkCancelled(): boolean;
}

interface Http2StreamShape extends EventEmitter {
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  respond: unknown;
}

/** Writes gRPC-framed messages (5-byte prefix + bytes, any number of them) straight to a call's HTTP/2 stream. */
export interface FramedWriter {
  /** False when the HTTP/2 stream holds more than its high-water mark: wait for `drainSource`'s 'drain'. */
  write(framed: Uint8Array): boolean;
  /** Bytes queued in the HTTP/2 stream, not yet handed to the socket (the flow-control bound). */
  readonly queuedBytes: number;
  /** Emits 'drain' when the queue has room again. */
  readonly drainSource: EventEmitter;
}

/**
 * The framed writer of a server-streaming call, or undefined when grpc-js does not have the expected shape (another
 * version, an interceptor in between) or when messages are already queued in grpc-js's own stream (mixing the two
 * paths would reorder them). Once a caller writes through it, it must not use `call.write` again for that call.
 */
export function framedWriter(call: ServerWritableStream<unknown, unknown>): FramedWriter | undefined {
  const base = (call as unknown as { call?: Partial<BaseCallShape> }).call;
  if (base === undefined || base === null) return undefined;
  if (typeof base.maybeSendMetadata !== "function" || typeof base.checkCancelled !== "function") return undefined;
  const stream = base.stream;
  if (
    stream === undefined ||
    typeof stream.write !== "function" ||
    typeof stream.respond !== "function" ||
    typeof stream.writableLength !== "number"
  )
    return undefined;
  if (call.writableLength !== 0) return undefined;
  const call_ = base as BaseCallShape;
  // A failed write destroys the HTTP/2 stream; grpc-js's own close handling then ends the call as cancelled.
  const ignore = () => {};
  return {
    write(framed) {
      if (call_.checkCancelled()) return true;
      call_.maybeSendMetadata();
      return stream.write(framed, ignore);
    },
    get queuedBytes() {
      return stream.writableLength;
    },
    drainSource: stream,
  };
}

/** Frames messages for gRPC (uncompressed): one buffer holding `[0][length: uint32 BE][bytes]` for each. */
export function frameMessages(messages: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const m of messages) size += 5 + m.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const m of messages) {
    out[at] = 0;
    out.writeUInt32BE(m.length, at + 1);
    out.set(m, at + 5);
    at += 5 + m.length;
  }
  return out;
}
