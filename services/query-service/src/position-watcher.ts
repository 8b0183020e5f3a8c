import { setTimeout as sleep } from "node:timers/promises";
import type { CheckpointReader, ReadModelName } from "./read-models.js";
import { type HeapEntry, WaiterHeap } from "./waiter-heap.js";

export type WaitOutcome = "reached" | "timeout" | "cancelled" | "stopped";

export interface WaitOptions {
  /** Gives up with "timeout" after this long. */
  readonly timeoutMs: number;
  /** Gives up with "cancelled" when aborted (the caller went away). */
  readonly signal?: AbortSignal;
}

export interface PositionWatcherOptions {
  readonly name: ReadModelName;
  /** The authoritative checkpoint: read at start, on every (re)connect of the notification channel, and by the poll. */
  readonly checkpoints: CheckpointReader;
  /** Safety poll of the checkpoint, so a lost notification cannot strand a waiter (default 250 ms; 0 = off). */
  readonly pollIntervalMs?: number;
  /** After `announce`: how often the checkpoint is re-read until it reaches the announced position (default 5 ms). */
  readonly chaseIntervalMs?: number;
  /** ...and for how long at most, before the safety poll takes over (default 5,000 ms). */
  readonly chaseTimeoutMs?: number;
  readonly onError?: (error: unknown) => void;
}

interface Waiter extends HeapEntry {
  readonly resolve: (outcome: WaitOutcome) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Knows the latest checkpoint of one read model and wakes readers waiting for a position.
 *
 * Positions arrive event-driven (`advance`, fed by Postgres LISTEN or Redis SUBSCRIBE); `refresh` re-reads the
 * checkpoint (start, reconnect, and a slow safety poll). Waiters sit in a min-heap by target position: a checkpoint
 * releases every waiter at or below it in one pass, and a waiter that times out or is cancelled is removed from the
 * heap and its timer cleared at once, so nothing is left behind.
 */
export class PositionWatcher {
  readonly name: ReadModelName;
  private current = 0;
  private started = false;
  private stopped = false;
  private healthy = false;
  private advances = 0;
  private readonly heap = new WaiterHeap<Waiter>();
  private timersActive = 0;
  private readonly listeners = new Set<(position: number) => void>();
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private inflightRefresh: Promise<void> | undefined;
  private announced = 0;
  private chaseUntil = 0;
  private chasing = false;

  constructor(private readonly options: PositionWatcherOptions) {
    this.name = options.name;
  }

  /** The latest known checkpoint. */
  get position(): number {
    return this.current;
  }

  /** Readers waiting right now. */
  get waiterCount(): number {
    return this.heap.size;
  }

  /** Wait timers alive right now (equals `waiterCount` unless something leaks). */
  get timerCount(): number {
    return this.timersActive;
  }

  /** Whether the last read of the checkpoint succeeded. */
  get isHealthy(): boolean {
    return this.healthy;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.refresh();
    this.schedulePoll();
  }

  /** Stops the poll and releases every waiter with "stopped". */
  stop(): void {
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    for (let waiter = this.heap.pop(); waiter; waiter = this.heap.pop()) this.settle(waiter, "stopped");
    this.listeners.clear();
  }

  /** A checkpoint announcement. Announcements only move forward (an older one arriving late is ignored). */
  advance(position: number): void {
    if (!Number.isSafeInteger(position) || position < 0) return;
    this.advances++;
    if (position <= this.current) return;
    this.set(position);
  }

  /**
   * A checkpoint announced by a source ahead of the one this watcher reads (the primary's notice, while the checkpoint
   * is read from its streaming replica). Never taken as the position: the replica has not necessarily replayed that
   * far, and a read that waited for it must see the rows. The checkpoint is re-read every `chaseIntervalMs` until it
   * reaches the announced position (or `chaseTimeoutMs` passed: a rebuilt read model may never get there).
   */
  announce(position: number): void {
    if (!Number.isSafeInteger(position) || position <= this.current || this.stopped) return;
    this.announced = Math.max(this.announced, position);
    this.chaseUntil = Date.now() + (this.options.chaseTimeoutMs ?? 5_000);
    if (this.chasing) return;
    this.chasing = true;
    void (async () => {
      try {
        while (!this.stopped && this.current < this.announced && Date.now() < this.chaseUntil) {
          await this.refresh();
          if (this.current < this.announced) await sleep(this.options.chaseIntervalMs ?? 5);
        }
      } finally {
        this.chasing = false;
      }
    })();
  }

  /**
   * Re-reads the checkpoint. The value read is the truth and may even be lower (a read model rebuilt after data loss)
   * — unless an announcement arrived while the read was in flight, which makes the read possibly stale.
   */
  refresh(): Promise<void> {
    this.inflightRefresh ??= this.readCheckpoint().finally(() => {
      this.inflightRefresh = undefined;
    });
    return this.inflightRefresh;
  }

  /** Resolves once the read model reached `target`, or with why not. Never rejects. */
  waitFor(target: number, options: WaitOptions): Promise<WaitOutcome> {
    if (target <= this.current) return Promise.resolve("reached");
    if (this.stopped) return Promise.resolve("stopped");
    if (options.signal?.aborted) return Promise.resolve("cancelled");
    if (options.timeoutMs <= 0) return Promise.resolve("timeout");
    return new Promise<WaitOutcome>((resolve) => {
      const waiter: Waiter = {
        target,
        heapIndex: -1,
        resolve,
        timer: undefined,
        signal: undefined,
        onAbort: undefined,
      };
      this.heap.push(waiter);
      waiter.timer = setTimeout(() => this.settle(waiter, "timeout"), options.timeoutMs);
      this.timersActive++;
      if (options.signal) {
        waiter.signal = options.signal;
        waiter.onAbort = () => this.settle(waiter, "cancelled");
        options.signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
    });
  }

  /** Calls `listener` with the new position after every change; returns the unsubscribe function. */
  onChange(listener: (position: number) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private async readCheckpoint(): Promise<void> {
    const advancesBefore = this.advances;
    try {
      const position = await this.options.checkpoints.checkpoint();
      this.healthy = true;
      if (position > this.current || (position < this.current && this.advances === advancesBefore)) this.set(position);
    } catch (error) {
      this.healthy = false;
      this.options.onError?.(error);
    }
  }

  private set(position: number): void {
    this.current = position;
    // One pass: every waiter at or below the new checkpoint leaves the heap now.
    for (let top = this.heap.peek(); top && top.target <= position; top = this.heap.peek()) {
      this.heap.pop();
      this.settle(top, "reached");
    }
    for (const listener of this.listeners) {
      try {
        listener(position);
      } catch (error) {
        this.options.onError?.(error);
      }
    }
  }

  private settle(waiter: Waiter, outcome: WaitOutcome): void {
    this.heap.remove(waiter);
    if (waiter.timer !== undefined) {
      clearTimeout(waiter.timer);
      waiter.timer = undefined;
      this.timersActive--;
    }
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
    waiter.signal = undefined;
    waiter.onAbort = undefined;
    waiter.resolve(outcome);
  }

  private schedulePoll(): void {
    const interval = this.options.pollIntervalMs ?? 250;
    if (interval <= 0 || this.stopped) return;
    this.pollTimer = setTimeout(() => {
      void this.refresh().finally(() => this.schedulePoll());
    }, interval);
    this.pollTimer.unref?.();
  }
}
