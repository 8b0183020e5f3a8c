import {
  AckPolicy,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import { backoffDelay, pause } from "@orderly/retry";
import { Registry } from "prom-client";
import { headersOf } from "./message-headers.js";
import { MessageQueue } from "./message-queue.js";
import { type ProjectorMetrics, projectorMetrics } from "./metrics.js";
import {
  type CheckpointMark,
  CheckpointMovedError,
  type ContinuityCheck,
  type EventLog,
  type Logger,
  type Projection,
  ProjectionHandlerError,
  silentLogger,
} from "./projection.js";
import { followOn, type RetiredLookup } from "./retired-gaps.js";

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

export interface ProjectorOptions {
  readonly projection: Projection;
  readonly eventLog: EventLog;
  /** Where the metrics go (default: a private registry). */
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** Without a source the projector follows the event log alone (polling each tick). */
  readonly source?: JetStreamSource;
  /** Most live events per transaction (default 100). */
  readonly batchSize?: number;
  /** Events per transaction when reading from the event log (gap fetch, catch-up; default 2000). */
  readonly catchUpBatchSize?: number;
  /** Attempts at one event before it is declared poison (default 5). */
  readonly maxAttempts?: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** How often a poisoned projection tries its event again, re-read from the event store (default 5 s). */
  readonly poisonRetryMs?: number;
  /** Idle/lag tick (default 1 s). */
  readonly tickMs?: number;
  /**
   * Checks the checkpoint's mark against the event store on start and on every idle tick, and the last event of every
   * batch from JetStream before it is applied: a store that went back (a restore, a new database) stops the projector
   * instead of being skipped over, and a stream ahead of the store is never applied. Without it nothing is checked.
   */
  readonly continuity?: ContinuityCheck;
  /** While diverged, how often the store is asked again (default 3 s). */
  readonly continuityRetryMs?: number;
  /**
   * For tracing (issue 16): called after every committed batch with its events and when its apply started (epoch
   * ms). Unset: no per-batch work.
   */
  readonly traceBatch?: (events: readonly RecordedEvent[], startedAt: number) => void;
}

export interface ProjectorStatus {
  readonly projection: string;
  readonly checkpoint: Position;
  readonly head: Position;
  readonly poisoned?: { readonly position: Position; readonly error: string } | undefined;
  readonly failing: boolean;
  /** Why the projector stopped applying: the event store is behind or differs from what it saw. */
  readonly diverged?: string | undefined;
}

class Stopped extends Error {}

/** A message and its event, decoded as it arrives (overlapping the decode with the batch in flight). */
interface Delivery {
  readonly msg: JsMsg;
  readonly event: RecordedEvent | undefined;
}

/**
 * Runs one projection: takes live events from JetStream, drops what the checkpoint already covers, heals holes from
 * the event store, applies micro-batches atomically with the checkpoint, acks after the commit, and stops (never
 * skips) at an event whose handler keeps failing.
 */
export class Projector {
  private readonly projection: Projection;
  private readonly eventLog: EventLog;
  private readonly log: Logger;
  private readonly metrics: ProjectorMetrics;
  /** Where this projector's metrics are (the one passed in, or its own). */
  readonly registry: Registry;
  private readonly labels: { projection: string };
  private readonly batchSize: number;
  private readonly catchUpBatchSize: number;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly poisonRetryMs: number;
  private readonly tickMs: number;
  private readonly queue = new MessageQueue<Delivery>();
  private readonly abort = new AbortController();
  private messages: ConsumerMessages | undefined;
  private watching: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private lagRunning = false;
  private cp: Position = 0;
  private head: Position = 0;
  /** Head seen one tick ago: anything at or below it should have arrived by now. */
  private staleHead: Position = 0;
  private tickHead: Position = 0;
  private started = false;
  private failing = false;
  private poison: { position: Position; error: string } | undefined;
  /** Set while the store disagrees with a mark: the marks to check again, and the line that was logged. */
  private divergence: { marks: CheckpointMark[]; message: string } | undefined;
  private readonly continuity: ContinuityCheck | undefined;
  private readonly continuityRetryMs: number;
  private readonly traceBatch: ((events: readonly RecordedEvent[], startedAt: number) => void) | undefined;

  constructor(private readonly options: ProjectorOptions) {
    this.projection = options.projection;
    this.eventLog = options.eventLog;
    this.log = options.logger ?? silentLogger;
    this.registry = options.registry ?? new Registry();
    this.metrics = projectorMetrics(this.registry);
    this.labels = { projection: options.projection.name };
    this.batchSize = options.batchSize ?? 100;
    this.catchUpBatchSize = options.catchUpBatchSize ?? 2000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryBaseMs = options.retryBaseMs ?? 50;
    this.retryMaxMs = options.retryMaxMs ?? 5_000;
    this.poisonRetryMs = options.poisonRetryMs ?? 5_000;
    this.tickMs = options.tickMs ?? 1_000;
    this.continuity = options.continuity;
    this.continuityRetryMs = options.continuityRetryMs ?? 3_000;
    this.traceBatch = options.traceBatch;
    this.metrics.poisoned.set(this.labels, 0);
    this.metrics.storeDiverged.set(0);
    // Every series exists from the start (a dashboard shows 0, not "no data").
    for (const counter of [
      this.metrics.applied,
      this.metrics.gapFetches,
      this.metrics.gapEvents,
      this.metrics.retries,
    ]) {
      counter.inc(this.labels, 0);
    }
    this.metrics.lagEvents.set(this.labels, 0);
    this.metrics.lagSeconds.set(this.labels, 0);
  }

  /** Loads the checkpoint, makes sure the durable consumer exists, and starts applying. */
  async start(): Promise<void> {
    this.cp = await this.projection.checkpoint();
    this.metrics.checkpoint.set(this.labels, this.cp);
    // A store that cannot be asked now is asked again on the first idle tick (before anything is applied from it).
    await this.checkCheckpoint().catch((error: unknown) =>
      this.log.warn(
        { err: error, projection: this.projection.name },
        "could not check the checkpoint against the store",
      ),
    );
    await this.refreshLag();
    const source = this.options.source;
    if (source) {
      await this.subscribe(source);
      this.watching = this.watchConsumer(source);
    }
    this.lagTimer = setInterval(() => void this.refreshLag(), this.tickMs);
    this.lagTimer.unref();
    this.started = true;
    this.loop = this.run();
    this.log.info({ projection: this.projection.name, checkpoint: this.cp }, "projector started");
  }

  /** Stops after the batch in flight; unacked messages are redelivered to the next run. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.lagTimer);
    await this.messages?.close();
    await this.watching;
    await this.loop;
    this.started = false;
  }

  /** Ready = running, not stuck at a poison event, not failing on its store, the event store agrees with it. */
  ready(): boolean {
    return (
      this.started &&
      !this.abort.signal.aborted &&
      this.poison === undefined &&
      !this.failing &&
      this.divergence === undefined
    );
  }

  status(): ProjectorStatus {
    return {
      projection: this.projection.name,
      checkpoint: this.cp,
      head: this.head,
      poisoned: this.poison,
      failing: this.failing,
      diverged: this.divergence?.message,
    };
  }

  private get stopping(): boolean {
    return this.abort.signal.aborted;
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
      callback: (m) => this.queue.push({ msg: m, event: this.decode(source, m) }),
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
          await pause(this.retryMaxMs, this.abort.signal);
        }
      }
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.divergence) {
        await this.awaitAgreement();
        continue;
      }
      const batch = await this.queue.take(this.batchSize, this.tickMs, this.abort.signal);
      try {
        if (batch.length > 0) {
          if (!(await this.batchAgrees(batch))) {
            // Not applied: JetStream delivers them again once the store agrees (or a recovery replaced the stream).
            for (const d of [...batch, ...this.queue.clear()]) d.msg.nak(this.continuityRetryMs);
            continue;
          }
          await this.handle(batch);
          // ack_policy all: acking the last message acknowledges every message delivered before it. (Should that be
          // a redelivery, later ones stay pending until a later ack covers them or they come again and are dropped.)
          (batch[batch.length - 1] as Delivery).msg.ack();
        } else {
          await this.idle();
        }
      } catch (error) {
        if (error instanceof Stopped || this.stopping) break;
        // Unexpected (e.g. the event store is down during a gap fetch): leave the messages for redelivery.
        this.failing = true;
        this.log.error({ err: error, projection: this.projection.name }, "projector batch failed, retrying");
        for (const d of batch) d.msg.nak(this.retryBaseMs);
        await pause(this.retryMaxMs, this.abort.signal);
      }
    }
  }

  /** Nothing arrived for a tick: check the durable checkpoint, and fetch what the bus should have delivered. */
  private async idle(): Promise<void> {
    if (!(await this.checkCheckpoint())) return;
    const durable = await this.projection.checkpoint();
    let target = this.options.source ? this.staleHead : this.head;
    if (durable !== this.cp) {
      if (durable < this.cp) target = this.head;
      this.moved(durable, "checkpoint changed while idle");
    }
    if (this.cp < target) {
      if (this.options.source) {
        this.metrics.gapFetches.inc(this.labels);
        this.log.warn({ projection: this.projection.name, from: this.cp + 1, to: target }, "events did not arrive");
      }
      await this.withMoves(() => this.catchUpTo(target));
    }
    this.failing = false;
  }

  /** The checkpoint's mark against the store (start, idle ticks). False when they disagree (now diverged). */
  private async checkCheckpoint(): Promise<boolean> {
    if (!this.continuity) return true;
    const mark = await this.checkpointMark();
    return this.agrees(mark, `the ${this.projection.name} read model's checkpoint`);
  }

  private async checkpointMark(): Promise<CheckpointMark> {
    if (this.projection.checkpointMark) return this.projection.checkpointMark();
    return { position: await this.projection.checkpoint(), eventId: undefined };
  }

  /**
   * The batch's last new event against the store (one primary-key look-up per batch): a stream that is ahead of the
   * store (it was restored, or replaced by an empty one) must not be applied. Events the checkpoint already covers are
   * dropped anyway and not looked up.
   */
  private async batchAgrees(batch: readonly Delivery[]): Promise<boolean> {
    if (!this.continuity) return true;
    let last: RecordedEvent | undefined;
    for (const d of batch) if (d.event && (!last || d.event.position > last.position)) last = d.event;
    if (!last || last.position <= this.cp) return true;
    return this.agrees(
      { position: last.position, eventId: last.metadata.eventId },
      `the ${this.options.source?.stream ?? "event"} stream (as delivered to ${this.projection.name})`,
    );
  }

  private async agrees(mark: CheckpointMark, what: string): Promise<boolean> {
    const message = await (this.continuity as ContinuityCheck).diverges(mark, what);
    if (message === undefined) return true;
    if (this.divergence === undefined) {
      this.divergence = { marks: [mark], message };
      this.metrics.storeDiverged.set(1);
      this.log.error(
        { projection: this.projection.name, checkpoint: this.cp, position: mark.position, eventId: mark.eventId },
        message,
      );
    } else if (!this.divergence.marks.some((m) => m.position === mark.position && m.eventId === mark.eventId)) {
      this.divergence.marks.push(mark);
    }
    return false;
  }

  /**
   * Diverged: apply nothing, and ask the store again every few seconds whether it holds every mark that disagreed and
   * the (possibly rebuilt) checkpoint's; resume by itself once it does (after `pnpm orderly recover`).
   */
  private async awaitAgreement(): Promise<void> {
    const divergence = this.divergence;
    if (!divergence) return;
    for (const d of this.queue.clear()) d.msg.nak(this.continuityRetryMs);
    await pause(this.continuityRetryMs, this.abort.signal);
    if (this.stopping) return;
    try {
      const continuity = this.continuity as ContinuityCheck;
      const checkpoint = await this.checkpointMark();
      if ((await continuity.diverges(checkpoint, "the projector")) !== undefined) return;
      for (const mark of divergence.marks) {
        // A mark the (recovered) checkpoint is past is dropped when it comes again, never applied.
        if (mark.position <= checkpoint.position) continue;
        if ((await continuity.diverges(mark, "the projector")) === undefined) continue;
        // An event at a position a recovery retired was lost with the store's old timeline: it is never applied (the
        // check refuses it again, should the old stream still hand it out), so it does not hold the projector up.
        if (mark.eventId !== undefined && (await continuity.isRetired?.(mark.position)) === true) continue;
        return;
      }
      this.divergence = undefined;
      this.metrics.storeDiverged.set(0);
      const durable = await this.projection.checkpoint();
      if (durable !== this.cp) this.moved(durable, "the event store was recovered");
      this.log.info(
        { projection: this.projection.name, checkpoint: this.cp },
        "the event store agrees with the read model again: resuming",
      );
    } catch (error) {
      this.log.warn({ err: error, projection: this.projection.name }, "could not check the event store, retrying");
    }
  }

  private moved(actual: Position, reason: string): void {
    const direction = actual < this.cp ? "backwards" : "forwards";
    this.log.warn(
      { projection: this.projection.name, from: this.cp, to: actual, reason },
      `checkpoint moved ${direction}`,
    );
    this.metrics.resets.inc({ ...this.labels, reason: direction });
    this.cp = actual;
    this.metrics.checkpoint.set(this.labels, actual);
  }

  /** Runs `work`; when the checkpoint moved underneath (swap, lost data), adopts the new one and runs it again. */
  private async withMoves<T>(work: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await work();
      } catch (error) {
        if (!(error instanceof CheckpointMovedError)) throw error;
        this.moved(error.actual, error.reason);
      }
    }
  }

  private decode(source: JetStreamSource, m: JsMsg): RecordedEvent | undefined {
    try {
      return source.decode(m.data, headersOf(m));
    } catch (error) {
      // Its position will show up as a hole and be fetched from the event store.
      this.metrics.undecodable.inc(this.labels);
      this.log.warn({ err: error, seq: m.seq, subject: m.subject }, "undecodable message");
      return undefined;
    }
  }

  private async handle(batch: readonly Delivery[]): Promise<void> {
    const events: RecordedEvent[] = [];
    for (const d of batch) if (d.event) events.push(d.event);
    events.sort((a, b) => a.position - b.position);
    await this.withMoves(() => this.applyLive(events));
  }

  /** Applies the events above the checkpoint in order, fetching any hole from the event store first. */
  private async applyLive(events: readonly RecordedEvent[]): Promise<void> {
    let run: RecordedEvent[] = [];
    let expected = this.cp + 1;
    for (const event of events) {
      if (event.position < expected) continue; // redelivery or replay: already applied
      if (event.position > expected) {
        await this.applyBatch(run);
        run = [];
        this.metrics.gapFetches.inc(this.labels);
        this.log.warn(
          { projection: this.projection.name, from: this.cp + 1, to: event.position - 1 },
          "gap in delivered positions, fetching from the event store",
        );
        // Up to the event before it, or to the last event before a range a recovery retired right below it.
        const reached = await this.catchUpTo(event.position - 1);
        if (reached !== event.position - 1) throw new Error(`gap fetch stopped at ${reached}`);
      }
      run.push(event);
      expected = event.position + 1;
    }
    await this.applyBatch(run);
  }

  /**
   * Reads from the event log and applies in large batches until the checkpoint reaches `target`. Positions must follow
   * on one by one, except across ranges a recovery retired (recorded: they never hold an event); any other hole stops
   * it (EventLogGapError). Returns how far it got: `target`, also when the checkpoint stays on the last event below a
   * retired range that reaches `target`.
   */
  private async catchUpTo(target: Position): Promise<Position> {
    const read = (after: Position) => {
      const limit = Math.min(this.catchUpBatchSize, target - after);
      return { limit, page: this.eventLog.readAll(after, limit) };
    };
    let reached = this.cp;
    let next = read(reached);
    while (reached < target && !this.stopping) {
      const page = await next.page;
      const { events, reached: to } = await followOn(
        page,
        reached,
        target,
        page.length < next.limit,
        this.retiredLookup,
      );
      reached = to;
      // Read the next page while this one is applied.
      if (reached < target) next = read(reached);
      this.metrics.gapEvents.inc(this.labels, events.length);
      await this.applyBatch(events);
    }
    if (this.stopping) throw new Stopped();
    return reached;
  }

  private get retiredLookup(): RetiredLookup {
    const log = this.eventLog;
    return log.retiredBetween ? (after, upTo) => log.retiredBetween?.(after, upTo) ?? Promise.resolve([]) : undefined;
  }

  /** One atomic apply with retries; isolates and stops at a poison event. */
  private async applyBatch(events: readonly RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    let attempt = 0;
    for (;;) {
      if (this.stopping) throw new Stopped();
      const started = performance.now();
      try {
        await this.projection.apply(events, this.cp);
        this.committed(events, started);
        return;
      } catch (error) {
        if (error instanceof CheckpointMovedError) throw error;
        if (this.stopping) throw new Stopped();
        this.metrics.retries.inc(this.labels);
        if (!this.projection.isTransient?.(error)) await this.throwIfMoved();
        if (this.projection.isTransient?.(error)) {
          this.failing = true;
          this.log.warn({ err: error, projection: this.projection.name }, "projection store unavailable, retrying");
          await pause(this.backoff(attempt++), this.abort.signal);
          continue;
        }
        if (events.length > 1) {
          // Isolate the failing event: commit what precedes it, then retry it alone.
          const at =
            error instanceof ProjectionHandlerError ? events.findIndex((e) => e.position === error.position) : -1;
          const split = at > 0 ? at : at === 0 ? 1 : Math.ceil(events.length / 2);
          await this.applyBatch(events.slice(0, split));
          await this.applyBatch(events.slice(split));
          return;
        }
        attempt++;
        if (attempt < this.maxAttempts) {
          this.log.warn({ err: error, projection: this.projection.name, attempt }, "event failed, retrying");
          await pause(this.backoff(attempt), this.abort.signal);
          continue;
        }
        await this.stuckAt(events[0] as RecordedEvent, error);
        return;
      }
    }
  }

  /**
   * Poison: the projection stops at this event (never skips it), reports unready and exposes the position. It keeps
   * trying slowly, re-reading the event from the event store, so a repair or a fixed handler (restart) resumes it.
   */
  private async stuckAt(event: RecordedEvent, error: unknown): Promise<void> {
    this.poison = { position: event.position, error: String(error) };
    this.metrics.poisoned.set(this.labels, event.position);
    this.log.error(
      {
        err: error,
        projection: this.projection.name,
        position: event.position,
        type: event.type,
        stream: event.streamId,
      },
      "poison event: projection stopped at it",
    );
    try {
      for (;;) {
        await pause(this.poisonRetryMs, this.abort.signal);
        if (this.stopping) throw new Stopped();
        const started = performance.now();
        try {
          const [fresh] = await this.eventLog.readAll(event.position - 1, 1);
          const retry = fresh ?? event;
          await this.projection.apply([retry], this.cp);
          this.committed([retry], started);
          this.log.info(
            { projection: this.projection.name, position: event.position },
            "poison event applied, resuming",
          );
          return;
        } catch (retryError) {
          if (retryError instanceof CheckpointMovedError) throw retryError;
          await this.throwIfMoved();
          this.log.warn({ err: retryError, position: event.position }, "poison event still fails");
        }
      }
    } finally {
      this.poison = undefined;
      this.metrics.poisoned.set(this.labels, 0);
    }
  }

  /**
   * An event that fails may fail only because the read model is not where this process thinks (its database was
   * restored under it, a recovery moved the checkpoint): the handler folds onto rows of another position before the
   * atomic write could notice. So before a failure counts towards poison, the durable checkpoint is asked; if it
   * moved, the runtime adopts it instead (CheckpointMovedError).
   */
  private async throwIfMoved(): Promise<void> {
    let durable: Position;
    try {
      durable = await this.projection.checkpoint();
    } catch {
      return;
    }
    if (durable !== this.cp) {
      throw new CheckpointMovedError(
        this.projection.name,
        this.cp,
        durable,
        "the checkpoint moved under a failing event",
      );
    }
  }

  private committed(events: readonly RecordedEvent[], started: number): void {
    const last = events[events.length - 1] as RecordedEvent;
    this.cp = last.position;
    this.failing = false;
    this.metrics.checkpoint.set(this.labels, this.cp);
    this.metrics.applied.inc(this.labels, events.length);
    this.metrics.batchSize.observe(this.labels, events.length);
    this.metrics.batchDuration.observe(this.labels, (performance.now() - started) / 1000);
    if (this.head < this.cp) this.head = this.cp;
    this.metrics.lagEvents.set(this.labels, this.head - this.cp);
    if (this.cp >= this.head) this.metrics.lagSeconds.set(this.labels, 0);
    this.logTraced(events);
    this.traceBatch?.(events, Date.now() - (performance.now() - started));
  }

  /**
   * A command's traceparent travels into the projector's log (issue 7): one info line per committed batch that holds
   * traced events, with the positions it covers and the distinct traceparents and trace ids. Batches without any
   * cost one loop over the events.
   */
  private logTraced(events: readonly RecordedEvent[]): void {
    let traceparents: Set<string> | undefined;
    let traced = 0;
    for (const event of events) {
      const traceparent = event.metadata.traceparent;
      if (!traceparent) continue;
      traced++;
      if (!traceparents) traceparents = new Set();
      traceparents.add(traceparent);
    }
    if (!traceparents) return;
    const list = [...traceparents];
    this.log.info(
      {
        projection: this.projection.name,
        from: (events[0] as RecordedEvent).position,
        to: (events[events.length - 1] as RecordedEvent).position,
        events: events.length,
        traced,
        traceparents: list,
        traceIds: [...new Set(list.map((t) => t.split("-")[1] ?? t))],
      },
      "applied traced events",
    );
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, { baseMs: this.retryBaseMs, maxMs: this.retryMaxMs });
  }

  /** lag_events = head − checkpoint; lag_seconds = age of event checkpoint+1 (grows while stopped or stuck). */
  private async refreshLag(): Promise<void> {
    if (this.lagRunning) return;
    this.lagRunning = true;
    try {
      const head = await this.eventLog.headPosition();
      this.staleHead = this.tickHead;
      this.tickHead = head;
      this.head = Math.max(head, this.cp);
      const cp = this.cp;
      this.metrics.lagEvents.set(this.labels, this.head - cp);
      if (this.head <= cp) {
        this.metrics.lagSeconds.set(this.labels, 0);
      } else {
        const [next] = await this.eventLog.readAll(cp, 1);
        const age = next ? Math.max(0, (Date.now() - next.committedAt.getTime()) / 1000) : 0;
        this.metrics.lagSeconds.set(this.labels, age);
      }
    } catch (error) {
      this.log.warn({ err: error, projection: this.projection.name }, "could not measure lag");
    } finally {
      this.lagRunning = false;
    }
  }
}
