import type { StreamTail } from "./nats-session.js";
import type { ResumePoint } from "./pipeline.js";
import type { ContinuityCheck, RelayCheckpoint, RelayLogger } from "./ports.js";

export interface ReconcilerOptions {
  /** The relay's name (its checkpoint row), for the messages. */
  readonly name: string;
  readonly stream: string;
  readonly continuity: ContinuityCheck | undefined;
  readonly logger: RelayLogger;
}

/** A mark the store must still hold: that event at that position. */
interface Mark {
  readonly position: number;
  readonly eventId: string | undefined;
  readonly what: string;
}

/**
 * Decides where publishing goes on after a start or a failure: the position of the stream's last message (the chain
 * guarantees the stream holds exactly the positions up to it), or the durable checkpoint when the stream has no
 * message to ask — provided the store still holds both marks. While it does not (Postgres went back: a restore, a new
 * database), the relay is diverged: one error line (both positions and event ids, and the fix),
 * `orderly_store_diverged` 1, not ready; once they all agree again it resumes by itself.
 */
export class StreamReconciler {
  /** The line logged when the store was found behind or different; undefined while it agrees. */
  #diverged: string | undefined;

  constructor(private readonly options: ReconcilerOptions) {}

  get diverged(): boolean {
    return this.#diverged !== undefined;
  }

  /** The resume point, or undefined when the store does not hold the stream's last message or the checkpoint's event. */
  async resumePoint(tail: StreamTail, checkpoint: RelayCheckpoint, head: number): Promise<ResumePoint | undefined> {
    const { lastPosition, lastEventId } = tail;
    const marks: Mark[] = [
      ...(lastPosition === undefined
        ? []
        : [
            {
              position: lastPosition,
              eventId: lastEventId,
              what: `the last message of the stream ${this.options.stream}`,
            },
          ]),
      {
        position: checkpoint.position,
        eventId: checkpoint.eventId,
        what: `the relay's checkpoint (${this.options.name})`,
      },
    ];
    if (!(await this.#storeAgrees(marks, head))) return undefined;
    if (lastPosition !== undefined && lastPosition < checkpoint.position) {
      this.options.logger.warn(
        { checkpoint: checkpoint.position, lastPosition },
        "the stream lost messages past its last one: republishing them",
      );
    }
    return {
      checkpoint: checkpoint.position,
      position: lastPosition ?? checkpoint.position,
      eventId: lastPosition === undefined ? checkpoint.eventId : lastEventId,
      streamLastSeq: tail.lastSeq,
    };
  }

  async #storeAgrees(marks: readonly Mark[], head: number): Promise<boolean> {
    const continuity = this.options.continuity;
    if (!continuity) return true;
    for (const mark of marks) {
      const message = await continuity.diverges(mark, mark.what);
      if (message === undefined) continue;
      if (this.#diverged === undefined) {
        this.options.logger.error({ position: mark.position, eventId: mark.eventId, head }, message);
      }
      this.#diverged = message;
      return false;
    }
    if (this.#diverged !== undefined) {
      this.#diverged = undefined;
      this.options.logger.info({}, "the event store agrees with the stream again: publishing");
    }
    return true;
  }
}
