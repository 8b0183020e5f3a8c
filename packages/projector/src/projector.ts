import type { JsMsg } from "@nats-io/jetstream";
import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import { headersOf } from "@orderly/library-internals/nats";
import { pause } from "@orderly/retry";
import { Registry } from "prom-client";
import { BatchApplier, Stopped } from "./batch-applier.js";
import { ContinuityGuard } from "./continuity-guard.js";
import { type JetStreamSource, LiveConsumer } from "./jetstream-consumer.js";
import { LagMeter } from "./lag-meter.js";
import { MessageQueue } from "./message-queue.js";
import { type ProjectorMetrics, projectorMetrics } from "./metrics.js";
import {
  type CheckpointMark,
  type ContinuityCheck,
  type EventLog,
  type Logger,
  type Projection,
  silentLogger,
} from "./projection.js";
import { followOn, type RetiredLookup } from "./retired-gaps.js";

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
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly tickMs: number;
  private readonly queue = new MessageQueue<Delivery>();
  private readonly abort = new AbortController();
  private consumer: LiveConsumer | undefined;
  private loop: Promise<void> | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private readonly lag: LagMeter;
  private started = false;
  private readonly applier: BatchApplier;
  private readonly guard: ContinuityGuard;
  private readonly continuity: ContinuityCheck | undefined;
  private readonly continuityRetryMs: number;

  constructor(private readonly options: ProjectorOptions) {
    this.projection = options.projection;
    this.eventLog = options.eventLog;
    this.log = options.logger ?? silentLogger;
    this.registry = options.registry ?? new Registry();
    this.metrics = projectorMetrics(this.registry);
    this.labels = { projection: options.projection.name };
    this.lag = new LagMeter(options.eventLog, this.metrics, this.labels, this.log, () => this.applier.cp);
    this.batchSize = options.batchSize ?? 100;
    this.catchUpBatchSize = options.catchUpBatchSize ?? 2000;
    this.retryBaseMs = options.retryBaseMs ?? 50;
    this.retryMaxMs = options.retryMaxMs ?? 5_000;
    this.tickMs = options.tickMs ?? 1_000;
    this.continuity = options.continuity;
    this.continuityRetryMs = options.continuityRetryMs ?? 3_000;
    this.applier = new BatchApplier({
      projection: options.projection,
      eventLog: options.eventLog,
      log: this.log,
      metrics: this.metrics,
      labels: this.labels,
      lag: this.lag,
      signal: this.abort.signal,
      maxAttempts: options.maxAttempts ?? 5,
      retryBaseMs: this.retryBaseMs,
      retryMaxMs: this.retryMaxMs,
      poisonRetryMs: options.poisonRetryMs ?? 5_000,
      traceBatch: options.traceBatch,
    });
    this.metrics.poisoned.set(this.labels, 0);
    this.guard = new ContinuityGuard(options.continuity, this.metrics, this.log, options.projection.name);
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
    this.applier.cp = await this.projection.checkpoint();
    this.metrics.checkpoint.set(this.labels, this.applier.cp);
    // A store that cannot be asked now is asked again on the first idle tick (before anything is applied from it).
    await this.checkCheckpoint().catch((error: unknown) =>
      this.log.warn(
        { err: error, projection: this.projection.name },
        "could not check the checkpoint against the store",
      ),
    );
    await this.lag.refresh();
    const source = this.options.source;
    if (source) {
      this.consumer = new LiveConsumer(source, {
        log: this.log,
        signal: this.abort.signal,
        retryMs: this.retryMaxMs,
        deliver: (m) => this.queue.push({ msg: m, event: this.decode(source, m) }),
      });
      await this.consumer.start();
    }
    this.lagTimer = setInterval(() => void this.lag.refresh(), this.tickMs);
    this.lagTimer.unref();
    this.started = true;
    this.loop = this.run();
    this.log.info({ projection: this.projection.name, checkpoint: this.applier.cp }, "projector started");
  }

  /** Stops after the batch in flight; unacked messages are redelivered to the next run. */
  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.lagTimer);
    await this.consumer?.close();
    await this.loop;
    this.started = false;
  }

  /** Ready = running, not stuck at a poison event, not failing on its store, the event store agrees with it. */
  ready(): boolean {
    return (
      this.started &&
      !this.abort.signal.aborted &&
      this.applier.poison === undefined &&
      !this.applier.failing &&
      this.guard.diverged === undefined
    );
  }

  status(): ProjectorStatus {
    return {
      projection: this.projection.name,
      checkpoint: this.applier.cp,
      head: this.lag.head,
      poisoned: this.applier.poison,
      failing: this.applier.failing,
      diverged: this.guard.diverged,
    };
  }

  private get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.guard.diverged !== undefined) {
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
        this.applier.failing = true;
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
    let target = this.options.source ? this.lag.staleHead : this.lag.head;
    if (durable !== this.applier.cp) {
      if (durable < this.applier.cp) target = this.lag.head;
      this.applier.moved(durable, "checkpoint changed while idle");
    }
    if (this.applier.cp < target) {
      if (this.options.source) {
        this.metrics.gapFetches.inc(this.labels);
        this.log.warn(
          { projection: this.projection.name, from: this.applier.cp + 1, to: target },
          "events did not arrive",
        );
      }
      await this.applier.withMoves(() => this.catchUpTo(target));
    }
    this.applier.failing = false;
  }

  /** The checkpoint's mark against the store (start, idle ticks). False when they disagree (now diverged). */
  private async checkCheckpoint(): Promise<boolean> {
    if (!this.continuity) return true;
    const mark = await this.checkpointMark();
    return this.guard.agrees(mark, `the ${this.projection.name} read model's checkpoint`, this.applier.cp);
  }

  private async checkpointMark(): Promise<CheckpointMark> {
    if (this.projection.checkpointMark) return this.projection.checkpointMark();
    return { position: await this.projection.checkpoint(), eventId: undefined };
  }

  /** The batch's last new event against the store (continuity-guard.ts). */
  private batchAgrees(batch: readonly Delivery[]): Promise<boolean> {
    return this.guard.lastAgrees(
      batch.map((d) => d.event),
      this.applier.cp,
      `the ${this.options.source?.stream ?? "event"} stream (as delivered to ${this.projection.name})`,
    );
  }

  /**
   * Diverged: apply nothing, and ask the store again every few seconds whether it holds every mark that disagreed and
   * the (possibly rebuilt) checkpoint's; resume by itself once it does (after `pnpm orderly recover`).
   */
  private async awaitAgreement(): Promise<void> {
    if (this.guard.diverged === undefined) return;
    for (const d of this.queue.clear()) d.msg.nak(this.continuityRetryMs);
    await pause(this.continuityRetryMs, this.abort.signal);
    if (this.stopping) return;
    try {
      if (!(await this.guard.recheck(await this.checkpointMark()))) return;
      const durable = await this.projection.checkpoint();
      if (durable !== this.applier.cp) this.applier.moved(durable, "the event store was recovered");
      this.log.info(
        { projection: this.projection.name, checkpoint: this.applier.cp },
        "the event store agrees with the read model again: resuming",
      );
    } catch (error) {
      this.log.warn({ err: error, projection: this.projection.name }, "could not check the event store, retrying");
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
    await this.applier.withMoves(() => this.applyLive(events));
  }

  /** Applies the events above the checkpoint in order, fetching any hole from the event store first. */
  private async applyLive(events: readonly RecordedEvent[]): Promise<void> {
    let run: RecordedEvent[] = [];
    let expected = this.applier.cp + 1;
    for (const event of events) {
      if (event.position < expected) continue; // redelivery or replay: already applied
      if (event.position > expected) {
        await this.applier.applyBatch(run);
        run = [];
        this.metrics.gapFetches.inc(this.labels);
        this.log.warn(
          { projection: this.projection.name, from: this.applier.cp + 1, to: event.position - 1 },
          "gap in delivered positions, fetching from the event store",
        );
        // Up to the event before it, or to the last event before a range a recovery retired right below it.
        const reached = await this.catchUpTo(event.position - 1);
        if (reached !== event.position - 1) throw new Error(`gap fetch stopped at ${reached}`);
      }
      run.push(event);
      expected = event.position + 1;
    }
    await this.applier.applyBatch(run);
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
    let reached = this.applier.cp;
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
      await this.applier.applyBatch(events);
    }
    if (this.stopping) throw new Stopped();
    return reached;
  }

  private get retiredLookup(): RetiredLookup {
    const log = this.eventLog;
    return log.retiredBetween ? (after, upTo) => log.retiredBetween?.(after, upTo) ?? Promise.resolve([]) : undefined;
  }
}
