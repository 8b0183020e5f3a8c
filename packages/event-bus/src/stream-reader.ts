import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { RecordedEvent } from "@orderly/eventsourcing";
import type { OrderEvent } from "@orderly/orders-domain";
import { decodeEnvelope } from "./codec.js";
import { headers } from "./names.js";

/** One message of the orders stream as its headers describe it (no body decoded). */
export interface StreamEventHeaders {
  readonly seq: number;
  /** `Orderly-Position`; NaN when missing. */
  readonly position: number;
  /** `Nats-Msg-Id`: the event id. */
  readonly eventId: string;
  /** `Orderly-Stream`, e.g. `order-<uuid>`. */
  readonly streamId: string;
  /** `Orderly-Type`. */
  readonly type: string;
}

export interface ReadStreamOptions {
  /** First stream sequence to read (default 1: from the start). */
  readonly fromSeq?: number;
  /** Last stream sequence to read, inclusive. */
  readonly toSeq: number;
  /** Messages per pull (default 5000). */
  readonly batch?: number;
  /** Called with the sequence of each message read (progress bars). */
  readonly onProgress?: (seq: number) => void;
}

/**
 * Reads the orders stream's headers from `fromSeq` to `toSeq` in sequence order with an ordered consumer that fetches
 * headers only (no bodies cross the wire): the stream's side of `pnpm orderly verify` and `recover`. Stops early when
 * the stream ends before `toSeq` (messages aged out, stream purged meanwhile).
 */
export async function* readStreamHeaders(
  js: JetStreamClient,
  stream: string,
  options: ReadStreamOptions,
): AsyncGenerator<StreamEventHeaders> {
  for await (const m of readMessages(js, stream, options, true)) {
    yield {
      seq: m.seq,
      position: toPosition(m.header?.get(headers.position)),
      eventId: m.header?.get(headers.msgId) ?? "",
      streamId: m.header?.get(headers.stream) ?? "",
      type: m.header?.get(headers.type) ?? "",
    };
  }
}

/**
 * Reads whole events from the orders stream, `fromSeq` to `toSeq`, decoded with the messages' headers (so
 * `committedAt` is the stored one): what `recover` copies back into a store that lost them.
 */
export async function* readStreamEvents(
  js: JetStreamClient,
  stream: string,
  options: ReadStreamOptions,
): AsyncGenerator<{ readonly seq: number; readonly event: RecordedEvent<OrderEvent> }> {
  for await (const m of readMessages(js, stream, options, false)) {
    const reader = { get: (name: string) => m.header?.get(name) ?? "" };
    yield { seq: m.seq, event: decodeEnvelope(m.data, reader) };
  }
}

interface RawMessage {
  readonly seq: number;
  readonly data: Uint8Array;
  readonly header: { get(name: string): string } | undefined;
}

async function* readMessages(
  js: JetStreamClient,
  stream: string,
  options: ReadStreamOptions,
  headersOnly: boolean,
): AsyncGenerator<RawMessage> {
  const from = Math.max(1, options.fromSeq ?? 1);
  if (options.toSeq < from) return;
  const consumer = await js.consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: from,
    headers_only: headersOnly,
  });
  const batch = options.batch ?? 5000;
  try {
    let expectMore = true;
    while (expectMore) {
      const messages = await consumer.fetch({ max_messages: batch, expires: 2_000 });
      let got = 0;
      for await (const m of messages) {
        got++;
        if (m.seq > options.toSeq) {
          expectMore = false;
          break;
        }
        options.onProgress?.(m.seq);
        yield { seq: m.seq, data: m.data, header: m.headers };
        if (m.seq >= options.toSeq || m.info.pending === 0) {
          expectMore = false;
          break;
        }
      }
      if (got === 0) expectMore = false;
    }
  } finally {
    // An ordered consumer is ephemeral: the server drops it after its inactivity threshold anyway.
    await consumer.delete().catch(() => undefined);
  }
}

function toPosition(text: string | undefined): number {
  return text ? Number(text) : Number.NaN;
}
