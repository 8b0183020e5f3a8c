/** When each event was committed (`events.committed_at`); positions without an event are absent from the map. */
export interface CommitTimes {
  committedAt(positions: readonly number[]): Promise<Map<number, Date>>;
}

export interface LagClockOptions {
  /** How long "there is no event after this checkpoint" is believed (default 100 ms). */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

interface Entry {
  /** Epoch ms of the commit of the event after the checkpoint, or null when there was none. */
  readonly committedAt: number | null;
  readonly fetchedAt: number;
}

/**
 * The lag of a read model at checkpoint P: now − committed_at of event P+1 (the oldest committed event it has not
 * applied), 0 when there is no such event. A commit time never changes, so a known one is kept while the read model
 * stays at P; "no next event" is believed only for `cacheMs`. Concurrent lookups of one position share one query.
 */
export class LagClock {
  private readonly cache = new Map<number, Entry>();
  private readonly inflight = new Map<number, Promise<Entry>>();
  private readonly cacheMs: number;
  private readonly now: () => number;

  constructor(
    private readonly commitTimes: CommitTimes,
    options: LagClockOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? 100;
    this.now = options.now ?? Date.now;
  }

  async lagSeconds(checkpoint: number): Promise<number> {
    const next = checkpoint + 1;
    let entry = this.cache.get(next);
    if (!entry || (entry.committedAt === null && this.now() - entry.fetchedAt > this.cacheMs)) {
      entry = await this.fetch(next);
    }
    if (entry.committedAt === null) return 0;
    return Math.max(0, (this.now() - entry.committedAt) / 1000);
  }

  private fetch(position: number): Promise<Entry> {
    let pending = this.inflight.get(position);
    if (!pending) {
      pending = this.commitTimes
        .committedAt([position])
        .then((times) => {
          const entry: Entry = { committedAt: times.get(position)?.getTime() ?? null, fetchedAt: this.now() };
          this.cache.set(position, entry);
          // A handful of read models, each at one checkpoint at a time: keep the cache tiny.
          if (this.cache.size > 32) {
            const oldest = this.cache.keys().next().value;
            if (oldest !== undefined) this.cache.delete(oldest);
          }
          return entry;
        })
        .finally(() => this.inflight.delete(position));
      this.inflight.set(position, pending);
    }
    return pending;
  }
}
