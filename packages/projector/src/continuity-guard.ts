import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import type { ProjectorMetrics } from "./metrics.js";
import type { CheckpointMark, ContinuityCheck, Logger } from "./projection.js";

/**
 * The guards of one process that are diverged, per gauge: `orderly_store_diverged` has no labels, and a process runs
 * a projector per partition it holds (ADR 0019), so the gauge is 1 while any of them is diverged.
 */
const divergedGuards = new WeakMap<object, Set<ContinuityGuard>>();

/**
 * The projector's continuity state (ADR 0010/0011): marks (the checkpoint's, a batch's last event) checked against the
 * event store, and, once one disagrees, the divergence — the marks to check again and the one line logged — until the
 * store agrees again. Without a ContinuityCheck everything agrees.
 */
export class ContinuityGuard {
  /** Set while the store disagrees with a mark: the marks to check again, and the line that was logged. */
  private divergence: { marks: CheckpointMark[]; message: string } | undefined;

  constructor(
    private readonly continuity: ContinuityCheck | undefined,
    private readonly metrics: ProjectorMetrics,
    private readonly log: Logger,
    private readonly projection: string,
  ) {
    this.report();
  }

  private report(): void {
    let diverged = divergedGuards.get(this.metrics.storeDiverged);
    if (!diverged) {
      diverged = new Set();
      divergedGuards.set(this.metrics.storeDiverged, diverged);
    }
    if (this.divergence) diverged.add(this);
    else diverged.delete(this);
    this.metrics.storeDiverged.set(diverged.size > 0 ? 1 : 0);
  }

  /** The line that was logged when the store stopped agreeing; undefined while it agrees. */
  get diverged(): string | undefined {
    return this.divergence?.message;
  }

  /** Does the store hold `mark`? When not, the projector is diverged from now on (one error line, the metric). */
  async agrees(mark: CheckpointMark, what: string, checkpoint: Position): Promise<boolean> {
    if (!this.continuity) return true;
    const message = await this.continuity.diverges(mark, what);
    if (message === undefined) return true;
    if (this.divergence === undefined) {
      this.divergence = { marks: [mark], message };
      this.report();
      this.log.error(
        { projection: this.projection, checkpoint, position: mark.position, eventId: mark.eventId },
        message,
      );
    } else if (!this.divergence.marks.some((m) => m.position === mark.position && m.eventId === mark.eventId)) {
      this.divergence.marks.push(mark);
    }
    return false;
  }

  /**
   * The last new event of a batch against the store (one primary-key look-up per batch): a stream that is ahead of the
   * store (it was restored, or replaced by an empty one) must not be applied. Events the checkpoint already covers are
   * dropped anyway and not looked up.
   */
  async lastAgrees(
    events: readonly (RecordedEvent | undefined)[],
    checkpoint: Position,
    what: string,
  ): Promise<boolean> {
    if (!this.continuity) return true;
    let last: RecordedEvent | undefined;
    for (const event of events) if (event && (!last || event.position > last.position)) last = event;
    if (!last || last.position <= checkpoint) return true;
    return this.agrees({ position: last.position, eventId: last.metadata.eventId }, what, checkpoint);
  }

  /**
   * Diverged: does the store now hold the (possibly recovered) checkpoint's mark and every mark that disagreed? True
   * once it does (the divergence is over). Throws when the store cannot be asked.
   */
  async recheck(checkpoint: CheckpointMark): Promise<boolean> {
    const divergence = this.divergence;
    if (!divergence) return true;
    const continuity = this.continuity as ContinuityCheck;
    if ((await continuity.diverges(checkpoint, "the projector")) !== undefined) return false;
    for (const mark of divergence.marks) {
      // A mark the (recovered) checkpoint is past is dropped when it comes again, never applied.
      if (mark.position <= checkpoint.position) continue;
      if ((await continuity.diverges(mark, "the projector")) === undefined) continue;
      // An event at a position a recovery retired was lost with the store's old timeline: it is never applied (the
      // check refuses it again, should the old stream still hand it out), so it does not hold the projector up.
      if (mark.eventId !== undefined && (await continuity.isRetired?.(mark.position)) === true) continue;
      return false;
    }
    this.divergence = undefined;
    this.report();
    return true;
  }
}
