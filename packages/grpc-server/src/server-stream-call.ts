import { create, type DescMessage, type DescMethod, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { type ServerWritableStream, status as Status } from "@grpc/grpc-js";
import { ResourceExhaustedError } from "@orderly/eventsourcing";
import { type FramedWriter, framedWriter, frameMessages } from "@orderly/library-internals/grpc-js";
import { EncodedBatch, EncodedMessage, methodPath, UndecodableRequest } from "./binding.js";
import { admit, rateLimited } from "./call-admission.js";
import { GrpcCallContext } from "./call-context.js";
import type { CallEnvironment } from "./call-environment.js";
import { callFailure, trackCall, undecodable } from "./call-outcome.js";
import { endSpan, startCallSpan } from "./call-tracing.js";
import type { GrpcMetrics } from "./metrics.js";
import { callerKey } from "./rate-limit.js";
import type { Init, ServerStreamingHandler } from "./service-implementation.js";
import { drained, STREAM_QUEUE_BYTES, STREAM_QUEUE_MESSAGES, untilAborted } from "./stream-backpressure.js";

/**
 * The grpc-js handler of a server-streaming method: admission (rate, open streams per caller), then the handler's
 * messages written with backpressure until it ends, the client goes away or the server shuts down.
 */
export function serverStreamingCall(
  env: CallEnvironment,
  method: DescMethod,
  handler: ServerStreamingHandler<DescMessage, DescMessage>,
  scope: string | undefined,
  stallTimeoutMs: number | undefined,
) {
  const path = methodPath(method.parent, method).slice(1);
  return (call: ServerWritableStream<unknown, unknown>) => {
    const track = trackCall(env.metrics, method, "server_stream");
    const ctx = new GrpcCallContext(call, path);
    const span = startCallSpan(env.tracer, method, call, ctx);
    env.streams.add(ctx);
    let counted: string | undefined;
    const finish = (code: Status) => {
      env.streams.delete(ctx);
      if (counted !== undefined) env.openStreams?.close(counted);
      ctx.release();
      track(code);
      if (span !== undefined) endSpan(span, code);
    };
    const request = call.request;
    const refuse = (error: unknown) => {
      const status = callFailure(error, ctx, env.logger);
      call.emit("error", status);
      finish(status.code);
    };
    const labels = { grpc_service: method.parent.typeName, grpc_method: method.name, grpc_type: "server_stream" };
    const run = async () => {
      const limited = rateLimited(env.limiter, ctx);
      if (limited !== undefined) {
        refuse(limited);
        return;
      }
      if (env.openStreams !== undefined) {
        const key = callerKey(ctx.principal?.subject, ctx.peer);
        if (!env.openStreams.open(key)) {
          refuse(
            new ResourceExhaustedError(
              `too many open streams for this caller (at most ${env.openStreams.max}); close one first`,
            ),
          );
          return;
        }
        counted = key;
      }
      if (request instanceof UndecodableRequest) {
        call.emit("error", { code: Status.INVALID_ARGUMENT, details: undecodable(request) });
        finish(Status.INVALID_ARGUMENT);
        return;
      }
      const iterator = handler(request as MessageShape<DescMessage>, ctx)[Symbol.asyncIterator]();
      try {
        await sendAll(call, iterator, method, ctx, stallTimeoutMs, env.metrics, labels);
        if (ctx.signal.aborted) throw ctx.signal.reason;
        call.end();
        finish(Status.OK);
      } catch (error) {
        // Runs the generator's finally blocks; it may be parked in an await, so do not wait for it.
        iterator.return?.(undefined)?.catch(() => {});
        const status = callFailure(error, ctx, env.logger);
        if (!call.cancelled) call.emit("error", status);
        finish(status.code);
      }
    };
    admit(env.auth, call, ctx, scope, refuse, () => void run());
  };
}

type Labels = { grpc_service: string; grpc_method: string; grpc_type: string };

/**
 * Writes the handler's messages until it ends: each as it comes, a batch as one framed write, waiting for the client
 * (and for at most `stallTimeoutMs`) whenever the stream's queue is full. Rejects with the signal's reason on abort.
 */
async function sendAll(
  call: ServerWritableStream<unknown, unknown>,
  iterator: AsyncIterator<Init<DescMessage> | EncodedMessage | EncodedBatch>,
  method: DescMethod,
  ctx: GrpcCallContext,
  stallTimeoutMs: number | undefined,
  metrics: GrpcMetrics,
  labels: Labels,
): Promise<void> {
  let framed: FramedWriter | null | undefined;
  for (;;) {
    const next = await untilAborted(iterator.next(), ctx.signal);
    if (next.done) break;
    const value = next.value;
    // grpc-js's stream says "full" at 16 queued messages (objectMode's default); waiting for the socket every 16
    // small messages caps a stream at a few thousand a second. Queue up to STREAM_QUEUE_MESSAGES, then wait:
    // still bounded (plus at most one batch), and a client that stops reading still stops the handler (HTTP/2
    // flow control).
    let sent = 1;
    if (value instanceof EncodedBatch) {
      const messages = value.messages;
      sent = messages.length;
      // A batch goes out as one HTTP/2 write of framed messages (@orderly/library-internals/grpc-js); from then on, so does
      // everything else of this call, to keep the order. Without the expected internals: message by message.
      if (framed === undefined && sent > 0) framed = framedWriter(call) ?? null;
      if (framed) {
        if (sent > 0 && !framed.write(frameMessages(messages)) && framed.queuedBytes >= STREAM_QUEUE_BYTES) {
          await untilAborted(drained(framed.drainSource, stallTimeoutMs), ctx.signal);
        }
      } else {
        let full = false;
        for (let i = 0; i < sent; i++) full = !call.write(new EncodedMessage(messages[i] as Uint8Array));
        if (full && call.writableLength >= STREAM_QUEUE_MESSAGES) {
          await untilAborted(drained(call, stallTimeoutMs), ctx.signal);
        }
      }
    } else if (framed) {
      const bytes =
        value instanceof EncodedMessage ? value.bytes : toBinary(method.output, create(method.output, value));
      if (!framed.write(frameMessages([bytes])) && framed.queuedBytes >= STREAM_QUEUE_BYTES) {
        await untilAborted(drained(framed.drainSource, stallTimeoutMs), ctx.signal);
      }
    } else if (
      !call.write(value instanceof EncodedMessage ? value : create(method.output, value)) &&
      call.writableLength >= STREAM_QUEUE_MESSAGES
    ) {
      await untilAborted(drained(call, stallTimeoutMs), ctx.signal);
    }
    if (sent > 0) metrics.messagesSent.inc(labels, sent);
  }
}
