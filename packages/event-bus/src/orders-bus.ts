import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import type { RecordedEvent, StoredEventText } from "@orderly/eventsourcing";
import type { OrderEvent } from "@orderly/orders-domain";
import { encodeEnvelope } from "./codec.js";
import { headers, streamName, subjectFor } from "./names.js";
import { encodeStoredEnvelopeOpen } from "./stored-envelope-writer.js";
import { ensureOrdersStream, type OrdersStreamOptions } from "./stream-config.js";

/** Everything a publisher of order events needs for one namespace (the outbox relay's `RelayBus`). */
export interface OrdersBus {
  readonly namespace: string;
  readonly stream: string;
  subject(eventType: string): string;
  encode(event: RecordedEvent): Uint8Array;
  /**
   * The same bytes from the stored row's text form (the relay's path: no RecordedEvent built). Any event the store
   * holds is encoded: one of a type this release does not know (a newer release wrote it) goes out with `event_type`
   * set and the `event` case empty, as docs/events.md tells consumers to expect, and never stops the relay.
   */
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
    // The relay is transport: it must not stop at a type it does not know (issue 16).
    encodeStored: encodeStoredEnvelopeOpen,
    ensureStream: (jsm) => ensureOrdersStream(jsm, namespace, stream),
    headers,
  };
}
