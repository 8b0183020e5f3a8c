import type { Position } from "@orderly/eventsourcing";
import type { ProjectorMetrics } from "./metrics.js";
import type { EventLog, Logger } from "./projection.js";

/**
 * The projector's view of the event store's head, and its lag metrics: lag_events = head − checkpoint; lag_seconds =
 * age of event checkpoint+1 (grows while stopped or stuck). `staleHead` is the head one tick ago: anything at or below
 * it should have arrived from the bus by now.
 */
export class LagMeter {
  head: Position = 0;
  staleHead: Position = 0;
  private tickHead: Position = 0;
  private running = false;

  constructor(
    private readonly eventLog: EventLog,
    private readonly metrics: ProjectorMetrics,
    private readonly labels: { projection: string },
    private readonly log: Logger,
    /** The checkpoint as the projector knows it. */
    private readonly checkpoint: () => Position,
  ) {}

  /** After a commit at `cp`: the head is at least there, and the lag in events follows. */
  committed(cp: Position): void {
    if (this.head < cp) this.head = cp;
    this.metrics.lagEvents.set(this.labels, this.head - cp);
    if (cp >= this.head) this.metrics.lagSeconds.set(this.labels, 0);
  }

  /** lag_events = head − checkpoint; lag_seconds = age of event checkpoint+1 (grows while stopped or stuck). */
  async refresh(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const head = await this.eventLog.headPosition();
      this.staleHead = this.tickHead;
      this.tickHead = head;
      const cp = this.checkpoint();
      this.head = Math.max(head, cp);
      this.metrics.lagEvents.set(this.labels, this.head - cp);
      if (this.head <= cp) {
        this.metrics.lagSeconds.set(this.labels, 0);
      } else {
        const [next] = await this.eventLog.readAll(cp, 1);
        const age = next ? Math.max(0, (Date.now() - next.committedAt.getTime()) / 1000) : 0;
        this.metrics.lagSeconds.set(this.labels, age);
      }
    } catch (error) {
      this.log.warn({ err: error, projection: this.labels.projection }, "could not measure lag");
    } finally {
      this.running = false;
    }
  }
}
