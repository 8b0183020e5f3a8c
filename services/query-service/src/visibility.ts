import type { CommitTimes } from "./lag.js";
import type { ReadModelName } from "./read-models.js";

export interface VisibilityRecorderOptions {
  readonly commitTimes: CommitTimes;
  /** Called with the seconds from the event's commit to the successful read. */
  readonly observe: (readModel: ReadModelName, seconds: number) => void;
  readonly flushIntervalMs?: number;
  readonly maxPending?: number;
  readonly onError?: (error: unknown) => void;
}

interface Sample {
  readonly readModel: ReadModelName;
  readonly position: number;
  readonly visibleAt: number;
}

/**
 * Command-to-visible latency as seen by read-your-writes queries: from `committed_at` of the event at min_position
 * to the moment the read succeeded. The commit times are looked up off the request path, in one query per flush.
 */
export class VisibilityRecorder {
  private pending: Sample[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> | undefined;
  private readonly flushIntervalMs: number;
  private readonly maxPending: number;

  constructor(private readonly options: VisibilityRecorderOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxPending = options.maxPending ?? 10_000;
  }

  record(readModel: ReadModelName, position: number, visibleAt = Date.now()): void {
    if (this.pending.length >= this.maxPending) return;
    this.pending.push({ readModel, position, visibleAt });
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushIntervalMs);
      this.timer.unref?.();
    }
  }

  async flush(): Promise<void> {
    if (this.flushing !== undefined) await this.flushing;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.flushing = this.resolve(batch).finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async resolve(batch: Sample[]): Promise<void> {
    try {
      const times = await this.options.commitTimes.committedAt([...new Set(batch.map((s) => s.position))]);
      for (const sample of batch) {
        const committedAt = times.get(sample.position);
        if (committedAt)
          this.options.observe(sample.readModel, Math.max(0, sample.visibleAt - committedAt.getTime()) / 1000);
      }
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
