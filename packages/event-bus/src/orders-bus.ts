import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import type { RecordedEvent } from "@orderly/eventsourcing";
import type { OrderEvent } from "@orderly/orders-domain";
import { encodeEnvelope } from "./codec.js";
import { headers, streamName, subjectFor } from "./names.js";
import { encodeStoredEnvelope, type StoredEventText } from "./stored-envelope-writer.js";
import { ensureOrdersStream, type OrdersStreamOptions } from "./stream-config.js";

/** Everything a publisher of order events needs for one namespace (the outbox relay's `RelayBus`). */
export interface OrdersBus {
  readonly namespace: string;
  readonly stream: string;
  subject(eventType: string): string;
  encode(event: RecordedEvent): Uint8Array;
  /** The same bytes from the stored row's text form (the relay's path: no RecordedEvent built). */
  encodeStored(stored: StoredEventText): Uint8Array;
  ensureStream(jsm: JetStreamManager): Promise<StreamInfo>;
  readonly headers: typeof headers;
}

/** `stream`: what the deployment decides about the stream (ORDERLY_STREAM_REPLICAS), applied by `ensureStream`. */
export function ordersBus(namespace: string, stream: OrdersStreamOptions = {}): OrdersBus {
  const name = streamName(namespace);
  const subjects = new Map<string, string>();
  return {
    namespace,
    stream: name,
    subject(eventType) {
      let subject = subjects.get(eventType);
      if (subject === undefined) {
        subject = subjectFor(namespace, eventType);
        subjects.set(eventType, subject);
      }
      return subject;
    },
    // The event log holds only order events (its rows come from the order decider).
    encode: (event) => encodeEnvelope(event as RecordedEvent<OrderEvent>),
    encodeStored: encodeStoredEnvelope,
    ensureStream: (jsm) => ensureOrdersStream(jsm, namespace, stream),
    headers,
  };
}
