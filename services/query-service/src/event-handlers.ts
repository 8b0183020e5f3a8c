import type { ReadEventsRequest, SubscribeEventsRequest } from "@orderly/contracts";
import { encodeStoredEnvelopeOpen } from "@orderly/event-bus";
import { isDomainError, type StoredEventText } from "@orderly/eventsourcing";
import { EncodedBatch, EncodedMessage } from "@orderly/grpc-server";
import { type Observe, type RpcKinds, timed, timedStream } from "./call-timing.js";
import type { Events } from "./events.js";
import type { CallContext } from "./grpc-handlers.js";
import { positionFromProto } from "./to-summary.js";

// The EventService RPCs. Responses leave as bytes written by the event bus's hand-written envelope writer (the same
// bytes the relay publishes to JetStream), wrapped in the response message by hand: protobuf-es's reflective
// toBinary would cost more than the whole read (docs/benchmarks.md).

export interface EventServiceHandlers {
  readEvents(request: ReadEventsRequest, ctx: CallContext): Promise<EncodedMessage>;
  subscribeEvents(request: SubscribeEventsRequest, ctx: CallContext): AsyncGenerator<EncodedBatch>;
}

export const eventRpcKinds: RpcKinds<EventServiceHandlers> = { readEvents: "unary", subscribeEvents: "stream" };

export function eventServiceHandlers(events: Events, observe: Observe = () => {}): EventServiceHandlers {
  return {
    readEvents: (request, ctx) =>
      timed(observe, "ReadEvents", async () => {
        const page = await events.readEvents(
          {
            fromPosition: positionFromProto(request.fromPosition, "from_position"),
            maxCount: request.maxCount,
            eventTypes: request.eventTypes,
          },
          ctx,
        );
        return new EncodedMessage(readEventsResponse(page.events, page.nextPosition));
      }),

    subscribeEvents: (request, ctx) =>
      timedStream(
        observe,
        "SubscribeEvents",
        ctx.signal,
        (error) => (isDomainError(error) ? error.code : ctx.signal.aborted ? "cancelled" : "internal"),
        async function* () {
          const stream = events.subscribe(
            {
              fromPosition: positionFromProto(request.fromPosition, "from_position"),
              eventTypes: request.eventTypes,
            },
            ctx,
          );
          // A page of the store at a time: one batch of response messages per page (grpc-server writes them at once).
          for await (const page of stream) yield new EncodedBatch(subscribeEventsResponses(page));
        },
      ),
  };
}

/** SubscribeEventsResponse { EventEnvelope event = 1; } */
export function subscribeEventsResponse(event: StoredEventText): Uint8Array {
  const envelope = encodeStoredEnvelopeOpen(event);
  const out = Buffer.allocUnsafe(1 + varintSize(envelope.length) + envelope.length);
  out[0] = 0x0a;
  const at = writeVarint(out, 1, envelope.length);
  out.set(envelope, at);
  return out;
}

/**
 * One SubscribeEventsResponse per event of a page, written into one buffer for the page (one allocation per page, not
 * per event): each response is a view of it.
 */
export function subscribeEventsResponses(events: readonly StoredEventText[]): Uint8Array[] {
  const envelopes = events.map((event) => encodeStoredEnvelopeOpen(event));
  let size = 0;
  for (const envelope of envelopes) size += 1 + varintSize(envelope.length) + envelope.length;
  const out = Buffer.allocUnsafe(size);
  const responses: Uint8Array[] = new Array(envelopes.length);
  let at = 0;
  for (let i = 0; i < envelopes.length; i++) {
    const envelope = envelopes[i] as Uint8Array;
    const start = at;
    out[at++] = 0x0a;
    at = writeVarint(out, at, envelope.length);
    out.set(envelope, at);
    at += envelope.length;
    responses[i] = out.subarray(start, at);
  }
  return responses;
}

/** ReadEventsResponse { repeated EventEnvelope events = 1; int64 next_position = 2; } */
export function readEventsResponse(events: readonly StoredEventText[], nextPosition: number): Uint8Array {
  const envelopes = events.map((event) => encodeStoredEnvelopeOpen(event));
  let size = 1 + varintSize(nextPosition);
  for (const envelope of envelopes) size += 1 + varintSize(envelope.length) + envelope.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const envelope of envelopes) {
    out[at++] = 0x0a;
    at = writeVarint(out, at, envelope.length);
    out.set(envelope, at);
    at += envelope.length;
  }
  if (nextPosition !== 0) {
    out[at++] = 0x10;
    at = writeVarint(out, at, nextPosition);
  }
  return out.subarray(0, at);
}

function varintSize(value: number): number {
  let size = 1;
  let v = value;
  while (v > 0x7f) {
    size++;
    v = Math.floor(v / 128);
  }
  return size;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  let pos = at;
  let v = value;
  while (v > 0x7f) {
    out[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[pos++] = v;
  return pos;
}
