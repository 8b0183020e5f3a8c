import {
  AckPolicy,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { RecordedEvent } from "@orderly/eventsourcing";
import { pause } from "@orderly/retry";
import type { Logger } from "./projection.js";

/** Where live events come from: a durable pull consumer on the orders stream. */
export interface JetStreamSource {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Stream name, e.g. `ORDERLY_ORDERS`. */
  readonly stream: string;
  /** Durable consumer name, e.g. `orderly_order_summaries`. */
  readonly consumer: string;
  readonly filterSubject?: string;
  /** Envelope bytes → event (the codec of `@orderly/event-bus`, injected to keep this package domain-free). */
  readonly decode: (data: Uint8Array, headers?: { get(name: string): string }) => RecordedEvent;
  /** Unacknowledged messages the server hands out at most (bounds memory). Default 2000. */
  readonly maxAckPending?: number;
  /** How long the server waits for an ack before it redelivers, when it creates the consumer. Default 60 s. */
  readonly ackWaitMs?: number;
}

/**
 * The projector's live feed: the durable consumer (created or recreated with `ack_policy: all`), its messages handed to
 * `deliver` as they arrive, and a watch that recreates the consumer when an operator deleted it.
 */
export class LiveConsumer {
  private messages: ConsumerMessages | undefined;
  private watching: Promise<void> | undefined;

  constructor(
    private readonly source: JetStreamSource,
    private readonly options: {
      readonly log: Logger;
      readonly signal: AbortSignal;
      /** Pause between attempts to recreate a deleted consumer. */
      readonly retryMs: number;
      readonly deliver: (message: JsMsg) => void;
    },
  ) {}

  async start(): Promise<void> {
    await this.subscribe(this.source);
    this.watching = this.watchConsumer(this.source);
  }

  /** Stops pulling (after the caller aborted the signal); unacked messages are redelivered to the next run. */
  async close(): Promise<void> {
    await this.messages?.close();
    await this.watching;
  }

  private get stopping(): boolean {
    return this.options.signal.aborted;
  }

  private get log(): Logger {
    return this.options.log;
  }

  /**
   * Makes sure the durable consumer exists with `ack_policy: all` (one ack per batch acknowledges the whole batch).
   * A consumer left by an older version with `explicit` is recreated, since the ack policy cannot be updated in
   * place: safe, because everything at or below the checkpoint is dropped and holes come from the event store. The
   * new one starts after the old one's ack floor, which the checkpoint covers (acks follow commits).
   */
  private async ensureConsumer(source: JetStreamSource): Promise<void> {
    let startAfter = 0;
    for (let attempt = 0; ; attempt++) {
      let existing: ConsumerInfo | undefined;
      try {
        existing = await source.jsm.consumers.info(source.stream, source.consumer);
      } catch {
        existing = undefined;
      }
      if (existing?.config.ack_policy === AckPolicy.All) return;
      if (existing) {
        startAfter = existing.ack_floor.stream_seq;
        this.log.info(
          { stream: source.stream, consumer: source.consumer, ackPolicy: existing.config.ack_policy, startAfter },
          "recreating the durable consumer with ack_policy all",
        );
        await source.jsm.consumers.delete(source.stream, source.consumer).catch(() => undefined);
      }
      try {
        await source.jsm.consumers.add(source.stream, {
          durable_name: source.consumer,
          ack_policy: AckPolicy.All,
          // A new consumer starts at the beginning of the stream (or after the replaced one's ack floor): what the
          // checkpoint covers is dropped, what the stream no longer holds comes from the event store.
          ...(startAfter > 0
            ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startAfter + 1 }
            : { deliver_policy: DeliverPolicy.All }),
          max_ack_pending: source.maxAckPending ?? 2000,
          ack_wait: (source.ackWaitMs ?? 60_000) * 1_000_000,
          ...(source.filterSubject ? { filter_subject: source.filterSubject } : {}),
        });
        this.log.info({ stream: source.stream, consumer: source.consumer }, "created durable consumer");
        return;
      } catch (error) {
        // Another instance may have created it meanwhile: look again (a few times), then give up.
        if (attempt >= 3) throw error;
      }
    }
  }

  private async subscribe(source: JetStreamSource): Promise<void> {
    await this.ensureConsumer(source);
    const consumer = await source.js.consumers.get(source.stream, source.consumer);
    this.messages = await consumer.consume({
      max_messages: Math.min(source.maxAckPending ?? 2000, 1000),
      callback: (m) => this.options.deliver(m),
    });
  }

  /**
   * A deleted consumer (an operator reset) is recreated and consumed afresh at once; it redelivers the stream, and
   * everything at or below the checkpoint is dropped.
   */
  private async watchConsumer(source: JetStreamSource): Promise<void> {
    while (!this.stopping) {
      const messages = this.messages;
      if (!messages) return;
      let reset = false;
      try {
        for await (const status of messages.status()) {
          if (status.type === "consumer_deleted" || status.type === "consumer_not_found") {
            reset = true;
            break;
          }
        }
      } catch (error) {
        if (!this.stopping) this.log.warn({ err: error }, "consumer status stream failed");
      }
      if (!reset || this.stopping) return;
      this.log.warn({ consumer: source.consumer }, "consumer missing, recreating it");
      await messages.close().catch(() => undefined);
      for (;;) {
        try {
          await this.subscribe(source);
          if (this.stopping) await this.messages?.close();
          break;
        } catch (error) {
          if (this.stopping) return;
          this.log.warn({ err: error }, "could not recreate the consumer, retrying");
          await pause(this.options.retryMs, this.options.signal);
        }
      }
    }
  }
}
