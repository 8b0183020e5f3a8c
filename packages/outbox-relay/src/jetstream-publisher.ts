import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { publishHeaders } from "@orderly/library-internals/nats";
import { utf8Write } from "@orderly/library-internals/node-buffer";

/** What nats.js needs of a header set when publishing: its wire form. */
export interface EncodedHeaders {
  encode(): Uint8Array;
}

/** One message of a batch: published with core NATS, acknowledged by JetStream on our own reply inbox. */
export interface OutgoingMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: EncodedHeaders;
}

const crlf = /[\r\n]/;

/**
 * Headers rendered straight into their wire form (`NATS/1.0\r\nName: value\r\n…\r\n\r\n`, names exactly as
 * given). nats.js's MsgHdrs canonicalises, validates and searches its map on every `set` (≈7 µs for our seven
 * headers, as much as the rest of a publish); this is one string and one encode. Throws on CR/LF in a value.
 */
export function renderHeaders(entries: readonly (readonly [string, string])[]): EncodedHeaders {
  let text = "NATS/1.0\r\n";
  for (const [name, value] of entries) {
    if (crlf.test(value)) throw new Error(`header ${name} contains CR or LF`);
    text += `${name}: ${value}\r\n`;
  }
  const bytes = Buffer.from(`${text}\r\n`, "utf8");
  return { encode: () => bytes };
}

/** A header block already in wire form. */
class HeaderBytes implements EncodedHeaders {
  constructor(readonly bytes: Uint8Array) {}
  encode(): Uint8Array {
    return this.bytes;
  }
}

const HEADER_SLAB_BYTES = 256 * 1024;

/**
 * Writes header blocks into shared slabs: one allocation per few hundred messages instead of a Buffer each. A slab
 * region is never written twice, so a block stays valid for as long as nats.js holds it (until its next flush).
 */
export class HeaderSlab {
  #buf = Buffer.allocUnsafe(HEADER_SLAB_BYTES);
  #pos = 0;

  /**
   * `text` is a whole header block as `renderHeaders` renders it (`NATS/1.0\r\n`, `Name: value\r\n` lines, a blank
   * line); the caller has made sure no value holds CR or LF.
   */
  encode(text: string): EncodedHeaders {
    const most = text.length * 3;
    if (this.#pos + most > this.#buf.length) {
      this.#buf = Buffer.allocUnsafe(Math.max(HEADER_SLAB_BYTES, most));
      this.#pos = 0;
    }
    const start = this.#pos;
    this.#pos += utf8Write.call(this.#buf, text, start);
    return new HeaderBytes(new Uint8Array(this.#buf.buffer, this.#buf.byteOffset + start, this.#pos - start));
  }
}

/** JetStream refused a message, did not answer in time, or the connection went away: the batch did not land whole. */
export class PublishFailedError extends Error {
  constructor(
    message: string,
    /** JetStream's `err_code` (e.g. 10071 wrong last sequence), when it answered with an error. */
    readonly jetStreamCode?: number,
  ) {
    super(message);
    this.name = "PublishFailedError";
  }
}

/** A batch in flight. `done` never rejects: it resolves once every message is acknowledged or the batch failed. */
export interface InFlightBatch {
  readonly count: number;
  /** Epoch milliseconds (sub-millisecond precision) at which each message's ack arrived; NaN until then. */
  readonly ackedAt: Float64Array;
  /** Messages JetStream reported as duplicates (already stored under the same Nats-Msg-Id). */
  readonly duplicates: number;
  readonly settled: boolean;
  /** Why the batch failed; undefined while in flight and when every message was acknowledged. */
  readonly error: PublishFailedError | undefined;
  readonly done: Promise<void>;
}

class Batch implements InFlightBatch {
  readonly ackedAt: Float64Array;
  acked = 0;
  duplicates = 0;
  settled = false;
  error: PublishFailedError | undefined;
  readonly done: Promise<void>;
  timer: NodeJS.Timeout | undefined;
  #resolve!: () => void;

  constructor(
    readonly id: number,
    readonly count: number,
  ) {
    this.ackedAt = new Float64Array(count).fill(Number.NaN);
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  settle(error?: PublishFailedError): void {
    if (this.settled) return;
    this.settled = true;
    this.error = error;
    clearTimeout(this.timer);
    this.#resolve();
  }
}

const decoder = new TextDecoder();
const now = () => performance.timeOrigin + performance.now();

interface PubAckJson {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; err_code?: number; description?: string };
}

/**
 * Publishes batches to JetStream as plain core-NATS messages with a reply subject on our own inbox, and matches the
 * acks itself: `js.publish()` builds a request, a timer and an error object per message and writes each one to the
 * socket separately, which makes the client, not the server, the limit (MEASURED.md). A batch is written in one
 * synchronous burst; its acks are awaited together.
 */
export class JetStreamPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #subscription: Subscription;
  readonly #batches = new Map<number, Batch>();
  #nextId = 1;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#prefix = createInbox();
    this.#subscription = nc.subscribe(`${this.#prefix}.>`, {
      callback: (error, msg) => {
        if (error) this.failAll(new PublishFailedError(`ack subscription failed: ${error.message}`));
        else this.#onAck(msg);
      },
    });
  }

  /** Messages of all batches not yet settled. */
  get inFlight(): number {
    let n = 0;
    for (const batch of this.#batches.values()) n += batch.count - batch.acked;
    return n;
  }

  /** Writes every message now (in order) and returns the batch; it fails if any ack is missing after `ackTimeoutMs`. */
  publish(messages: readonly OutgoingMessage[], ackTimeoutMs: number): InFlightBatch {
    const batch = new Batch(this.#nextId++, messages.length);
    if (messages.length === 0) {
      batch.settle();
      return batch;
    }
    this.#batches.set(batch.id, batch);
    const replyPrefix = `${this.#prefix}.${batch.id}.`;
    try {
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as OutgoingMessage;
        this.#nc.publish(m.subject, m.data, { headers: publishHeaders(m.headers), reply: replyPrefix + i });
      }
    } catch (error) {
      this.#fail(batch, new PublishFailedError(`publish failed: ${(error as Error).message}`));
      return batch;
    }
    batch.timer = setTimeout(() => {
      this.#fail(batch, new PublishFailedError(`${batch.count - batch.acked} acks missing after ${ackTimeoutMs} ms`));
    }, ackTimeoutMs);
    return batch;
  }

  /** Fails every batch in flight (the connection went away: their acks will never come). */
  failAll(error: PublishFailedError): void {
    for (const batch of [...this.#batches.values()]) this.#fail(batch, error);
  }

  close(): void {
    this.failAll(new PublishFailedError("publisher closed"));
    this.#subscription.unsubscribe();
  }

  #fail(batch: Batch, error: PublishFailedError): void {
    this.#batches.delete(batch.id);
    batch.settle(error);
  }

  #onAck(msg: Msg): void {
    const rest = msg.subject.slice(this.#prefix.length + 1);
    const dot = rest.indexOf(".");
    const batch = this.#batches.get(Number(rest.slice(0, dot)));
    if (batch === undefined) return; // a late ack of a batch that already failed
    const index = Number(rest.slice(dot + 1));
    const code = msg.headers?.code ?? 0;
    if (code >= 300) {
      // 503: no JetStream stream listens on the subject (or JetStream is not up yet).
      this.#fail(batch, new PublishFailedError(`JetStream answered status ${code} ${msg.headers?.description ?? ""}`));
      return;
    }
    let ack: PubAckJson;
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as PubAckJson;
    } catch {
      this.#fail(batch, new PublishFailedError("unparseable JetStream ack"));
      return;
    }
    if (ack.error) {
      this.#fail(
        batch,
        new PublishFailedError(`JetStream refused the message: ${ack.error.description ?? "?"}`, ack.error.err_code),
      );
      return;
    }
    if (!Number.isNaN(batch.ackedAt[index] as number)) return;
    batch.ackedAt[index] = now();
    if (ack.duplicate) batch.duplicates++;
    batch.acked++;
    if (batch.acked === batch.count) {
      this.#batches.delete(batch.id);
      batch.settle();
    }
  }
}
