import { emptyStoredEventText, readStoredEventColumns, type StoredEventColumns } from "@orderly/eventsourcing";
import { EventHeaderRenderer } from "./event-headers.js";
import { HeaderSlab, type InFlightBatch, type OutgoingMessage, PublishFailedError } from "./jetstream-publisher.js";
import type { RelayMetrics } from "./metrics.js";
import type { ContinuityCheck, PayloadUpcasters, RelayBus, RelaySession } from "./ports.js";
import type { Wakeup } from "./wakeup.js";

/** A batch JetStream acknowledged whole, for benchmarks and tests (`onAcked`). */
export interface AckedBatch {
  readonly firstPosition: number;
  readonly lastPosition: number;
  /** Per event, epoch ms: committed_at (transaction start, rounded down) and the arrival of the JetStream ack. */
  readonly committedAtMs: Float64Array;
  readonly ackedAtMs: Float64Array;
  /** With `withTraceparents` (tracing): each event's traceparent, and when the batch was published (epoch ms). */
  readonly traceparents?: readonly (string | null)[] | undefined;
  readonly publishedAtMs?: number | undefined;
}

/** Publishes a batch in one burst; `JetStreamPublisher` is the real one. */
export interface BatchPublisher {
  publish(messages: readonly OutgoingMessage[], ackTimeoutMs: number): InFlightBatch;
}

/** A read found that the store no longer holds the event published last: stop publishing and reconcile. */
export class StoreWentBackError extends Error {
  constructor(readonly position: number) {
    super(`the event store no longer holds the event published last, at position ${position}`);
    this.name = "StoreWentBackError";
  }
}

/** Where publishing goes on, as reconciliation with the stream found it. */
export interface ResumePoint {
  /** The durable checkpoint read. */
  readonly checkpoint: number;
  /** Every event up to here is in the stream (acknowledged). */
  readonly position: number;
  readonly eventId: string | undefined;
  /** The stream's last sequence (the next message expects it). */
  readonly streamLastSeq: number;
}

export interface PublishPipelineOptions {
  readonly bus: RelayBus;
  readonly batchSize: number;
  readonly maxInFlight: number;
  readonly pollIntervalMs: number;
  readonly ackTimeoutMs: number;
  readonly metrics: Pick<RelayMetrics, "latency" | "published" | "batches">;
  /** Fired by commit notifications, NATS status changes and stop(). */
  readonly wakeup: Wakeup;
  readonly continuity: ContinuityCheck | undefined;
  readonly onAcked: ((batch: AckedBatch) => void) | undefined;
  /** Hand each batch's traceparents and publish time to `onAcked` (for a publish span per trace). */
  readonly withTraceparents: boolean;
  /** Upcasts older payloads before they are published (undefined: payloads as stored). */
  readonly upcasters: PayloadUpcasters | undefined;
  /** True once the relay stops: finish the batches in flight, flush the checkpoint, return. */
  readonly stopping: () => boolean;
  /** Throws when the database session was lost. */
  readonly checkSession: () => void;
  readonly natsConnected: () => boolean;
  /** Called when idle, before waiting for a notification: (re)starts the LISTEN if it is down. */
  readonly onIdle: () => Promise<void>;
}

/** What is kept of a published batch until its acks are in: no per-event objects live across the round trip. */
interface Published {
  readonly batch: InFlightBatch;
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly lastEventId: string;
  readonly committedMs: Float64Array;
  readonly traceparents: (string | null)[] | undefined;
  readonly publishedAtMs: number;
}

const POSITION = 0;
const EVENT_ID = 1;
const checkpointIntervalMs = 100;

/**
 * The active relay's read-ahead publish pipeline: read → publish → harvest acks → checkpoint, with up to
 * `maxInFlight` events awaiting acks, and the positions that go with it (`cursor` = last published, `acked` = every
 * event up to it acknowledged, `head` = last committed known). Talks to Postgres and NATS only through its ports.
 */
export class PublishPipeline {
  #cursor = 0;
  /** The id of the event at `#cursor` (undefined at 0, or when resumed from a checkpoint written without one). */
  #cursorEventId: string | undefined;
  #acked = 0;
  #ackedEventId: string | undefined;
  #head = 0;
  #expectedSeq = 0;
  #oldestPendingMs: number | undefined;
  #checkpointed = 0;
  #checkpointAt = 0;
  #inflight: Published[] = [];
  #inflightEvents = 0;
  readonly #headerSlab = new HeaderSlab();
  readonly #headers: EventHeaderRenderer;
  /** The one stored event handed to the bus, filled in place for every row. */
  readonly #stored = emptyStoredEventText();

  constructor(private readonly options: PublishPipelineOptions) {
    this.#headers = new EventHeaderRenderer(options.bus.headers);
  }

  get acked(): number {
    return this.#acked;
  }

  get head(): number {
    return this.#head;
  }

  /** Committed events not yet acknowledged. */
  get lagEvents(): number {
    return Math.max(0, Math.max(this.#head, this.#cursor) - this.#acked);
  }

  /** Commit time (epoch ms) of the oldest event not yet acknowledged, when known. */
  get oldestPendingMs(): number | undefined {
    return this.#oldestPendingMs;
  }

  /** A commit notification: the store's head moved to `head`. */
  noteCommit(head: number): void {
    if (head > this.#head) this.#head = head;
    if (this.#oldestPendingMs === undefined && this.#head > this.#acked) this.#oldestPendingMs = Date.now();
  }

  /** Starts over from `point` (after a reconciliation), moving the checkpoint up to it when it lags. */
  async resume(session: RelaySession, point: ResumePoint): Promise<void> {
    this.#checkpointed = point.checkpoint;
    this.#cursor = point.position;
    this.#cursorEventId = point.eventId;
    this.#acked = point.position;
    this.#ackedEventId = point.eventId;
    if (point.position > point.checkpoint) await this.#writeCheckpoint(session, point.position);
    this.#expectedSeq = point.streamLastSeq;
    const { head, nextCommittedMs } = await session.headAfter(point.position);
    this.#head = Math.max(this.#head, head);
    this.#oldestPendingMs = nextCommittedMs;
  }

  /** Forgets the batches in flight (their session ended, or they were harvested after a failure). */
  dropInFlight(): void {
    this.#inflight = [];
    this.#inflightEvents = 0;
  }

  /**
   * Runs until the relay stops (returns) or publishing fails (throws). While a backlog drains, the next batch is
   * already asked for before the current one is encoded and published, so Postgres reads it while this process
   * encodes (the batch read ahead counts against `maxInFlight`).
   */
  async run(session: RelaySession, publisher: BatchPublisher | undefined): Promise<void> {
    const { batchSize, maxInFlight, pollIntervalMs, wakeup } = this.options;
    const readSize = Math.min(batchSize, maxInFlight);
    // caughtUp: the last read returned less than asked, so there is nothing to read until a notification (or poll).
    let caughtUp = false;
    let ahead: Promise<StoredEventColumns[]> | undefined;
    try {
      while (true) {
        this.options.checkSession();
        await this.harvest(session, false);
        if (this.options.stopping()) {
          if (this.#inflight.length === 0) return await this.#flushCheckpoint(session);
          await this.#inflight[0]?.batch.done;
          continue;
        }
        if (!this.options.natsConnected()) throw new PublishFailedError("NATS disconnected");
        if (ahead === undefined) {
          const oldest = this.#inflight[0]?.batch.done;
          if (this.#inflightEvents + readSize > maxInFlight) {
            await oldest;
            continue;
          }
          if (caughtUp) {
            if (oldest === undefined) {
              // Idle: make the durable checkpoint current before waiting.
              await this.#flushCheckpoint(session);
              await this.options.onIdle();
            }
            // Wake on a notification, the poll interval, or the oldest batch's acks (to harvest them).
            const woken = await wakeup.wait(pollIntervalMs, oldest);
            if (woken || oldest === undefined) caughtUp = false;
            continue;
          }
          wakeup.clear();
          ahead = this.#read(session, this.#cursor, this.#cursorEventId, readSize);
        }
        const rows = await ahead;
        ahead = undefined;
        if (rows.length < readSize) caughtUp = true;
        if (rows.length === 0) continue;
        if (!caughtUp && !this.options.stopping() && this.#inflightEvents + rows.length + readSize <= maxInFlight) {
          // The wake-up flag is cleared before every read, so a notification during this one causes another.
          wakeup.clear();
          const lastRow = rows[rows.length - 1] as StoredEventColumns;
          ahead = this.#read(session, Number(lastRow[POSITION]), lastRow[EVENT_ID], readSize);
          // Awaited on the next turn; if this loop leaves first, the finally below settles it.
          ahead.catch(() => undefined);
        }
        this.#publish(publisher, rows);
      }
    } finally {
      // A read still on the connection: let it finish before the session uses (or closes) it.
      if (ahead !== undefined) await ahead.catch(() => undefined);
    }
  }

  /**
   * The events after `after`, at most `limit`; throws StoreWentBackError when the store no longer holds `afterEventId`
   * at `after` (when the id is unknown, that it holds an event there), unless the continuity check says the position
   * was retired by a recovery.
   */
  async #read(session: RelaySession, after: number, afterEventId: string | undefined, limit: number) {
    const { eventIdAtCursor, rows } = await session.read(after, limit);
    const continuity = this.options.continuity;
    if (after === 0 || continuity === undefined) return rows;
    if (eventIdAtCursor !== undefined && (afterEventId === undefined || eventIdAtCursor === afterEventId)) return rows;
    // A position a recovery retired holds nothing, by design: the full check knows those.
    if (
      eventIdAtCursor === undefined &&
      (await continuity.diverges({ position: after, eventId: afterEventId }, "the relay")) === undefined
    )
      return rows;
    throw new StoreWentBackError(after);
  }

  /** Encodes and publishes a batch in one burst, straight from the rows' text (no event object per row). */
  #publish(publisher: BatchPublisher | undefined, rows: StoredEventColumns[]): void {
    if (!publisher) throw new PublishFailedError("not connected to NATS");
    const bus = this.options.bus;
    const headers = this.#headers;
    const stored = this.#stored;
    const n = rows.length;
    const committedMs = new Float64Array(n);
    const traceparents: (string | null)[] | undefined = this.options.withTraceparents ? new Array(n) : undefined;
    const upcasters = this.options.upcasters;
    const messages: OutgoingMessage[] = new Array(n);
    for (let i = 0; i < n; i++) {
      // Indexed, not destructured: array destructuring goes through the iterator protocol, on the hot path.
      const r = rows[i] as StoredEventColumns;
      const position = r[POSITION];
      const eventId = r[EVENT_ID];
      const streamId = r[2];
      const type = r[4];
      const traceparent = r[9] ?? null;
      const committed = r[11];
      readStoredEventColumns(r, stored, upcasters);
      committedMs[i] = Number(committed);
      if (traceparents) traceparents[i] = traceparent;
      const text = headers.render(eventId, position, streamId, type, committed, traceparent, this.#expectedSeq + i);
      messages[i] = {
        subject: bus.subject(type),
        data: bus.encodeStored(stored),
        headers: this.#headerSlab.encode(text),
      };
    }
    const publishedAtMs = traceparents ? Date.now() : 0;
    const batch = publisher.publish(messages, this.options.ackTimeoutMs);
    const last = rows[n - 1] as StoredEventColumns;
    const lastPosition = Number(last[POSITION]);
    this.#expectedSeq += n;
    this.#cursor = lastPosition;
    if (this.#cursor > this.#head) this.#head = this.#cursor;
    if (this.#inflight.length === 0 && this.#oldestPendingMs === undefined) {
      this.#oldestPendingMs = committedMs[0];
    }
    this.#cursorEventId = last[EVENT_ID];
    const firstPosition = Number((rows[0] as StoredEventColumns)[POSITION]);
    const lastEventId = last[EVENT_ID];
    this.#inflight.push({ batch, firstPosition, lastPosition, lastEventId, committedMs, traceparents, publishedAtMs });
    this.#inflightEvents += n;
  }

  /**
   * Takes the acknowledged batches off the front of the window and writes the checkpoint once for all of them.
   * Throws the first failed batch's error (those behind it are not acknowledged in effect: the chain broke).
   * With `all`, first waits for every batch in flight to settle.
   */
  async harvest(session: RelaySession, all: boolean): Promise<void> {
    if (all) await Promise.all(this.#inflight.map((p) => p.batch.done));
    let advanced = false;
    let failure: PublishFailedError | undefined;
    while (this.#inflight.length > 0) {
      const front = this.#inflight[0] as Published;
      if (!front.batch.settled) break;
      if (front.batch.error) {
        failure = front.batch.error;
        break;
      }
      this.#inflight.shift();
      this.#inflightEvents -= front.committedMs.length;
      this.#onBatchAcked(front);
      advanced = true;
    }
    // At most one checkpoint write per interval while busy (it shares the connection with the reads, and every
    // round trip on it delays the next read); always when idle, stopping or after a failure (see #flushCheckpoint).
    if (advanced && (all || Date.now() - this.#checkpointAt >= checkpointIntervalMs))
      await this.#flushCheckpoint(session);
    if (failure) throw failure;
  }

  #onBatchAcked(acked: Published): void {
    const { batch, firstPosition, lastPosition, lastEventId, committedMs, traceparents, publishedAtMs } = acked;
    const metrics = this.options.metrics;
    for (let i = 0; i < committedMs.length; i++) {
      metrics.latency.observe(Math.max(0, ((batch.ackedAt[i] as number) - (committedMs[i] as number)) / 1000));
    }
    metrics.published.inc(committedMs.length);
    metrics.batches.inc();
    this.#acked = lastPosition;
    this.#ackedEventId = lastEventId;
    const next = this.#inflight[0];
    this.#oldestPendingMs = next ? next.committedMs[0] : this.#head > lastPosition ? Date.now() : undefined;
    this.options.onAcked?.({
      firstPosition,
      lastPosition,
      committedAtMs: committedMs,
      ackedAtMs: batch.ackedAt,
      ...(traceparents ? { traceparents, publishedAtMs } : {}),
    });
  }

  async #flushCheckpoint(session: RelaySession): Promise<void> {
    if (this.#acked > this.#checkpointed) await this.#writeCheckpoint(session, this.#acked);
  }

  /** The checkpoint at the acknowledged position, with the id of the event there (its mark). */
  async #writeCheckpoint(session: RelaySession, position: number): Promise<void> {
    this.#checkpointAt = Date.now();
    this.#checkpointed = position;
    await session.writeCheckpoint(position, position === this.#acked ? this.#ackedEventId : undefined);
  }
}
