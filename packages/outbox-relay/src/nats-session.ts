import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { JetStreamPublisher, PublishFailedError } from "./jetstream-publisher.js";
import type { RelayBus, RelayLogger } from "./ports.js";

/** A NATS request (stream info, message get, ensure stream) failed: NATS is down or JetStream not answering. */
export class NatsUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`NATS unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "NatsUnavailableError";
  }
}

/** The stream's last message as the relay reconciles with it. */
export interface StreamTail {
  readonly lastSeq: number;
  /** Undefined when the stream is empty (or the message has no position header). */
  readonly lastPosition: number | undefined;
  readonly lastEventId: string | undefined;
}

export interface NatsSessionOptions {
  readonly servers: string | string[];
  readonly natsOptions: Partial<NodeConnectionOptions> | undefined;
  /** The connection's name. */
  readonly name: string;
  readonly bus: RelayBus;
  readonly logger: RelayLogger;
  /** Called on every disconnect and reconnect (the relay wakes up to notice). */
  readonly onChange: () => void;
}

/**
 * The relay's one NATS connection, kept across Postgres sessions: connects once (the client reconnects by itself),
 * tracks whether it is connected, owns the publisher, and asks JetStream for the stream's tail.
 */
export class NatsSession {
  #nc: NatsConnection | undefined;
  #connected = false;
  #statusWatch: Promise<void> | undefined;
  #publisher: JetStreamPublisher | undefined;

  constructor(private readonly options: NatsSessionOptions) {}

  get connected(): boolean {
    return this.#connected;
  }

  /** Undefined until connected. */
  get publisher(): JetStreamPublisher | undefined {
    return this.#publisher;
  }

  /** Connects unless connected already; throws NatsUnavailableError. */
  async connect(): Promise<void> {
    if (this.#nc) return;
    const nc = await connect({
      servers: this.options.servers,
      ...this.options.natsOptions,
      name: this.options.name,
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 2_000,
    }).catch((error: unknown) => {
      throw new NatsUnavailableError(error);
    });
    this.#nc = nc;
    this.#connected = true;
    this.#publisher = new JetStreamPublisher(nc);
    this.#statusWatch = this.#watch(nc);
    this.options.logger.info({ server: nc.getServer() }, "connected to NATS");
  }

  async #watch(nc: NatsConnection): Promise<void> {
    const log = this.options.logger;
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        this.#connected = false;
        log.warn({ server: status.server }, "NATS disconnected");
        // Acks of messages written before the disconnect will never come: fail their batches now.
        this.#publisher?.failAll(new PublishFailedError("NATS disconnected"));
        this.options.onChange();
      } else if (status.type === "reconnect") {
        this.#connected = true;
        log.info({ server: status.server }, "NATS reconnected");
        this.options.onChange();
      }
    }
  }

  /** Makes sure the stream exists (to its configuration) and reads its last message. Throws NatsUnavailableError. */
  async streamTail(): Promise<StreamTail> {
    const nc = this.#nc;
    if (!nc || !this.#connected) throw new NatsUnavailableError(new Error("not connected"));
    const bus = this.options.bus;
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      await bus.ensureStream(jsm);
      const info = await jsm.streams.info(bus.stream);
      let lastPosition: number | undefined;
      let lastEventId: string | undefined;
      if (info.state.messages > 0) {
        const message = await jsm.streams.getMessage(bus.stream, { seq: info.state.last_seq });
        const header = message?.header.get(bus.headers.position);
        if (header) lastPosition = Number(header);
        lastEventId = message?.header.get(bus.headers.msgId) || undefined;
      }
      return { lastSeq: info.state.last_seq, lastPosition, lastEventId };
    } catch (error) {
      throw new NatsUnavailableError(error);
    }
  }

  async close(): Promise<void> {
    this.#publisher?.close();
    if (this.#nc) {
      await this.#nc.close().catch(() => undefined);
      await this.#statusWatch;
    }
  }
}
