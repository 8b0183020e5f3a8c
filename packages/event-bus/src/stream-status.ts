import { JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { headers, streamName } from "./names.js";
import { ensureOrdersStream, type OrdersStreamOptions } from "./stream-config.js";

/** Where a message of the orders stream stands: its stream sequence and the event it carries. */
export interface StreamMark {
  readonly seq: number;
  /** `Orderly-Position`; NaN when the header is missing. */
  readonly position: number;
  /** `Nats-Msg-Id` (the event id). */
  readonly eventId: string;
}

/** A durable consumer of the orders stream (a projector), as JetStream sees it. */
export interface StreamConsumerStatus {
  readonly name: string;
  /** Messages not yet delivered to it. */
  readonly pending: number;
  /** Stream sequence below which everything is acknowledged. */
  readonly ackFloor: number;
  readonly ackPending: number;
}

export type OrdersStreamStatus =
  | { readonly stream: string; readonly exists: false }
  | {
      readonly stream: string;
      readonly exists: true;
      readonly firstSeq: number;
      readonly lastSeq: number;
      readonly messages: number;
      /** The last message's mark; undefined when the stream is empty. */
      readonly tail: StreamMark | undefined;
      readonly consumers: readonly StreamConsumerStatus[];
    };

const streamNotFound = 10059;

/** The orders stream of `namespace` at a glance: sequences, its tail's mark, and its consumers (read-only). */
export async function readOrdersStreamStatus(jsm: JetStreamManager, namespace: string): Promise<OrdersStreamStatus> {
  const stream = streamName(namespace);
  let info: Awaited<ReturnType<JetStreamManager["streams"]["info"]>>;
  try {
    info = await jsm.streams.info(stream);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === streamNotFound) return { stream, exists: false };
    throw error;
  }
  const lastSeq = info.state.last_seq;
  const tail = info.state.messages > 0 ? await readStreamMark(jsm, stream, lastSeq) : undefined;
  const consumers: StreamConsumerStatus[] = [];
  for await (const c of jsm.consumers.list(stream)) {
    consumers.push({
      name: c.name,
      pending: c.num_pending,
      ackFloor: c.ack_floor.stream_seq,
      ackPending: c.num_ack_pending,
    });
  }
  consumers.sort((a, b) => a.name.localeCompare(b.name));
  return {
    stream,
    exists: true,
    firstSeq: info.state.first_seq,
    lastSeq,
    messages: info.state.messages,
    tail,
    consumers,
  };
}

/** The mark of the message at `seq` (undefined when there is none). */
export async function readStreamMark(
  jsm: JetStreamManager,
  stream: string,
  seq: number,
): Promise<StreamMark | undefined> {
  const message = await jsm.streams.getMessage(stream, { seq });
  if (message === null) return undefined;
  const position = message.header?.get(headers.position);
  return {
    seq: message.seq,
    position: position ? Number(position) : Number.NaN,
    eventId: message.header?.get(headers.msgId) ?? "",
  };
}

/**
 * Deletes the orders stream (its messages, its consumers and its de-duplication window) and creates it again, empty,
 * from the configuration: recovery's reset, before the stream is republished from the store. Consumers recreate their
 * durable consumer and drop what their checkpoint covers. Never call it while a relay may publish (RelayFence).
 */
export async function recreateOrdersStream(
  jsm: JetStreamManager,
  namespace: string,
  options: OrdersStreamOptions = {},
): Promise<void> {
  const stream = streamName(namespace);
  try {
    await jsm.streams.delete(stream);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === streamNotFound)) throw error;
  }
  await ensureOrdersStream(jsm, namespace, options);
}
