import { JetStreamApiError, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { streamName } from "./names.js";
import { readStreamMark, type StreamMark } from "./stream-status.js";

export interface NatsStreamTailOptions {
  readonly servers: string | string[];
  /** More NATS connection options (credentials, TLS: the stack config's `nats`), spread after the servers. */
  readonly natsOptions?: Partial<NodeConnectionOptions>;
  readonly namespace: string;
  /** Bound on connecting and on each JetStream request (default 2 s). */
  readonly timeoutMs?: number;
  /** NATS connection name (default `orderly-stream-tail`). */
  readonly name?: string;
}

/** NATS could not be reached, or JetStream did not answer. */
export class StreamUnreachableError extends Error {
  constructor(cause: unknown) {
    super(`the event stream cannot be reached: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "StreamUnreachableError";
  }
}

const streamNotFound = 10059;

/**
 * The mark of the orders stream's last message (`Orderly-Position` + `Nats-Msg-Id`), for the command service's
 * continuity gate. Connects on first use and keeps the connection (reconnecting in the background); a failed first
 * connect is tried again on the next call. Undefined when the stream holds no message (or does not exist yet).
 */
export class NatsStreamTail {
  readonly #options: NatsStreamTailOptions;
  readonly #stream: string;
  readonly #timeoutMs: number;
  #connecting: Promise<{ nc: NatsConnection; jsm: JetStreamManager }> | undefined;
  #closed = false;

  constructor(options: NatsStreamTailOptions) {
    this.#options = options;
    this.#stream = streamName(options.namespace);
    this.#timeoutMs = options.timeoutMs ?? 2_000;
  }

  get stream(): string {
    return this.#stream;
  }

  /** Throws StreamUnreachableError when NATS or JetStream does not answer. */
  async tail(): Promise<StreamMark | undefined> {
    if (this.#closed) throw new StreamUnreachableError(new Error("closed"));
    try {
      const { jsm } = await this.#connection();
      let lastSeq: number;
      try {
        const info = await jsm.streams.info(this.#stream);
        if (info.state.messages === 0) return undefined;
        lastSeq = info.state.last_seq;
      } catch (error) {
        if (error instanceof JetStreamApiError && error.code === streamNotFound) return undefined;
        throw error;
      }
      return await readStreamMark(jsm, this.#stream, lastSeq);
    } catch (error) {
      throw new StreamUnreachableError(error);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const connecting = this.#connecting;
    this.#connecting = undefined;
    const connection = await connecting?.catch(() => undefined);
    await connection?.nc.close().catch(() => undefined);
  }

  #connection(): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
    this.#connecting ??= (async () => {
      const nc = await connect({
        servers: this.#options.servers,
        ...this.#options.natsOptions,
        name: this.#options.name ?? "orderly-stream-tail",
        timeout: this.#timeoutMs,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
      });
      return { nc, jsm: await jetstreamManager(nc, { timeout: this.#timeoutMs }) };
    })();
    const connecting = this.#connecting;
    connecting.catch(() => {
      if (this.#connecting === connecting) this.#connecting = undefined;
    });
    return connecting;
  }
}
