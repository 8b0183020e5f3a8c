import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import { backoffDelay, pause } from "@orderly/retry";
import type { LagMeter } from "./lag-meter.js";
import type { ProjectorMetrics } from "./metrics.js";
import {
  CheckpointMovedError,
  type EventLog,
  type Logger,
  type Projection,
  ProjectionHandlerError,
} from "./projection.js";
import { tracedBatch } from "./traced-batches.js";

/** The projector is stopping: whatever was in flight is abandoned (redelivered to the next run). */
export class Stopped extends Error {}

export interface BatchApplierOptions {
  readonly projection: Projection;
  readonly eventLog: EventLog;
  readonly log: Logger;
  readonly metrics: ProjectorMetrics;
  readonly labels: { projection: string };
  readonly lag: LagMeter;
  readonly signal: AbortSignal;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly poisonRetryMs: number;
  readonly traceBatch: ((events: readonly RecordedEvent[], startedAt: number) => void) | undefined;
}

/**
 * Where the projector stands and how a batch gets there: the checkpoint as this process knows it, atomic applies with
 * retries (transient trouble forever; a failing event isolated, retried, then held as poison — never skipped), the
 * adoption of a checkpoint that moved underneath (CheckpointMovedError), and what a commit updates (metrics, lag,
 * traces).
 */
export class BatchApplier {
  /** The last position applied (the durable checkpoint, as last written or read). */
  cp: Position = 0;
  /** The projection's store is failing (retrying). */
  failing = false;
  /** The event the projection is stopped at, while it is. */
  poison: { position: Position; error: string } | undefined;

  constructor(private readonly options: BatchApplierOptions) {}

  private get projection(): Projection {
    return this.options.projection;
  }

  private get eventLog(): EventLog {
    return this.options.eventLog;
  }

  private get log(): Logger {
    return this.options.log;
  }

  private get metrics(): ProjectorMetrics {
    return this.options.metrics;
  }

  private get labels(): { projection: string } {
    return this.options.labels;
  }

  moved(actual: Position, reason: string): void {
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
  async withMoves<T>(work: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await work();
      } catch (error) {
        if (!(error instanceof CheckpointMovedError)) throw error;
        this.moved(error.actual, error.reason);
      }
    }
  }

  /** One atomic apply with retries; isolates and stops at a poison event. */
  async applyBatch(events: readonly RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    let attempt = 0;
    for (;;) {
      if (this.options.signal.aborted) throw new Stopped();
      const started = performance.now();
      try {
        await this.projection.apply(events, this.cp);
        this.committed(events, started);
        return;
      } catch (error) {
        if (error instanceof CheckpointMovedError) throw error;
        if (this.options.signal.aborted) throw new Stopped();
        this.metrics.retries.inc(this.labels);
        if (!this.projection.isTransient?.(error)) await this.throwIfMoved();
        if (this.projection.isTransient?.(error)) {
          this.failing = true;
          this.log.warn({ err: error, projection: this.projection.name }, "projection store unavailable, retrying");
          await pause(this.backoff(attempt++), this.options.signal);
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
        if (attempt < this.options.maxAttempts) {
          this.log.warn({ err: error, projection: this.projection.name, attempt }, "event failed, retrying");
          await pause(this.backoff(attempt), this.options.signal);
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
        await pause(this.options.poisonRetryMs, this.options.signal);
        if (this.options.signal.aborted) throw new Stopped();
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
    this.options.lag.committed(this.cp);
    this.logTraced(events);
    this.options.traceBatch?.(events, Date.now() - (performance.now() - started));
  }

  /** One info line per committed batch that holds traced events (issue 7; traced-batches.ts). */
  private logTraced(events: readonly RecordedEvent[]): void {
    const traced = tracedBatch(events);
    if (traced) this.log.info({ projection: this.projection.name, ...traced }, "applied traced events");
  }

  private backoff(attempt: number): number {
    return backoffDelay(attempt, { baseMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs });
  }
}
