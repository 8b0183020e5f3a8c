import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import type { RetiredRange } from "./retired-gaps.js";

/**
 * A read model fed by the projector runtime. The runtime hands it strictly consecutive events (positions
 * checkpoint+1, checkpoint+2, ...) and the projection applies them and the new checkpoint atomically.
 */
export interface Projection {
  /** Read model name, e.g. `order_summaries`; labels metrics and names the durable consumer. */
  readonly name: string;
  /** The durable checkpoint (0 when nothing was applied). May repair lost state (see CheckpointMovedError). */
  checkpoint(): Promise<Position>;
  /**
   * Applies `events` (consecutive positions starting at `after + 1`) and moves the checkpoint from `after` to the
   * last position in one atomic write, then announces it. Throws CheckpointMovedError when the durable checkpoint
   * is not `after` (another writer, a swap by a rebuild, lost data), ProjectionHandlerError when an event cannot be
   * applied, anything else for infrastructure trouble.
   */
  apply(events: readonly RecordedEvent[], after: Position): Promise<void>;
  /** True for errors worth retrying forever (connection lost, server down); never poison. */
  isTransient?(error: unknown): boolean;
  /**
   * The durable checkpoint with the event it stands on (written by `apply` in the same atomic write), so that the
   * runtime can check it against the event store. Without it only the position is checked.
   */
  checkpointMark?(): Promise<CheckpointMark>;
}

/** Where a read model stands: the last applied position, that event's id and the store it came from. */
export interface CheckpointMark {
  readonly position: Position;
  /** Undefined when the checkpoint was written before marks existed (or by a writer that has none). */
  readonly eventId: string | undefined;
  readonly storeId?: string | undefined;
}

/**
 * Checks a mark against the event store: does the store still hold that event at that position? Implemented by
 * `StoreContinuity` of @orderly/event-store-postgres. Undefined when it does; otherwise the one line that tells an
 * operator what differs (both positions and event ids) and how to repair it. Throws when the store cannot be asked.
 */
export interface ContinuityCheck {
  diverges(
    mark: { readonly position: Position; readonly eventId: string | undefined },
    what: string,
  ): Promise<string | undefined>;
  /**
   * Is the position one a recovery retired (ADR 0011)? A projector stopped on an event there (one the store lost, from
   * a stream not yet recreated) resumes once it is; it never applies it. Without it, only a checkpoint moved past the
   * event releases the projector.
   */
  isRetired?(position: Position): Promise<boolean>;
}

/** Source of truth for gap fetches, catch-up, lag and rebuilds: the event store's global log. */
export interface EventLog {
  /** Events with position > `after`, in position order, at most `limit`. */
  readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]>;
  /** Position of the last committed event (0 when empty). */
  headPosition(): Promise<Position>;
  /**
   * The ranges a recovery retired (ADR 0011) overlapping the positions after `after` up to `upTo`: recorded holes that
   * catch-up and rebuilds step over. Without it every hole stops them.
   */
  retiredBetween?(after: Position, upTo: Position): Promise<readonly RetiredRange[]>;
}

/** The durable checkpoint is not where the writer thought: continue from `actual`. */
export class CheckpointMovedError extends Error {
  constructor(
    readonly projection: string,
    readonly expected: Position,
    readonly actual: Position,
    readonly reason: string,
  ) {
    super(`${projection}: checkpoint is ${actual}, expected ${expected} (${reason})`);
    this.name = "CheckpointMovedError";
  }
}

/** A handler cannot apply this event (unknown type, impossible transition, bad data): a poison candidate. */
export class ProjectionHandlerError extends Error {
  constructor(
    readonly position: Position,
    message: string,
  ) {
    super(`event at position ${position}: ${message}`);
    this.name = "ProjectionHandlerError";
  }
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
