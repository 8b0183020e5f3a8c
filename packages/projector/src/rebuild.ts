import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import { type EventLog, type Logger, silentLogger } from "./projection.js";
import { followOn } from "./retired-gaps.js";

/** What a rebuild found when it compared the shadow with a fresh fold of the events. */
export interface Verification {
  readonly rows: number;
  readonly checksum: string;
  readonly expectedRows: number;
  readonly expectedChecksum: string;
}

/** A read model that can be rebuilt next to the live one and swapped in. */
export interface RebuildTarget {
  readonly name: string;
  /** Drops a shadow a failed rebuild left behind. */
  dropShadow(): Promise<void>;
  /** Creates an empty shadow (table `<name>_v2`, a new Redis key generation). */
  createShadow(): Promise<void>;
  /** Applies consecutive events (positions after `after`) to the shadow. */
  applyToShadow(events: readonly RecordedEvent[], after: Position): Promise<void>;
  /**
   * Optional bulk replay of the events after `from` up to `to` into the shadow, ending with the shadow's checkpoint at
   * `to` (a fold in memory with one write per changed row, instead of `applyToShadow` batch after batch). Used for
   * the replay and the chase to the head; the catch-up inside the swap goes through `applyToShadow`.
   */
  replay?(from: Position, to: Position, onProgress: (done: Position, total: Position) => void): Promise<Position>;
  /** Row count and checksum of the shadow vs. a fresh fold of every event up to `position`. */
  verify(position: Position): Promise<Verification>;
  /**
   * Fences the live writer, lets `catchUp(from)` bring the shadow to the live checkpoint, then swaps atomically.
   * Returns the checkpoint the swapped-in model starts from.
   */
  swap(shadowCheckpoint: Position, catchUp: (from: Position, to: Position) => Promise<void>): Promise<Position>;
  /** Drops the model that was swapped out. */
  dropOld(): Promise<void>;
}

export interface RebuildOptions {
  readonly batchSize?: number;
  readonly logger?: Logger;
  /** Skip the verification (benchmarks of the replay alone). */
  readonly verify?: boolean;
  /** Called as the replay goes (a progress bar): positions done of the head. */
  readonly onProgress?: (progress: RebuildProgress) => void;
}

/** Where a rebuild stands: `replay` counts positions folded into the shadow of the head it chases. */
export interface RebuildProgress {
  readonly phase: "replay" | "verify" | "swap" | "done";
  readonly done: Position;
  readonly total: Position;
}

export interface RebuildResult {
  readonly projection: string;
  readonly position: Position;
  /** Events replayed into the shadow before the swap. */
  readonly replayedEvents: number;
  readonly replaySeconds: number;
  readonly replayEventsPerSecond: number;
  /** The verification's share of `totalSeconds` (0 without one). */
  readonly verifySeconds: number;
  readonly totalSeconds: number;
  readonly verification?: Verification | undefined;
}

export class RebuildVerificationError extends Error {
  constructor(
    readonly projection: string,
    readonly verification: Verification,
  ) {
    super(
      `${projection}: shadow has ${verification.rows} rows (checksum ${verification.checksum}), a fresh fold has ${verification.expectedRows} (checksum ${verification.expectedChecksum})`,
    );
    this.name = "RebuildVerificationError";
  }
}

/**
 * Rebuilds from the event store with no downtime: shadow ← replay in large batches ← catch up to the head ←
 * verify ← atomic swap ← drop the old one. The live projector keeps running; queries keep using the live model.
 */
export async function rebuildProjection(
  target: RebuildTarget,
  eventLog: EventLog,
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  const log = options.logger ?? silentLogger;
  const batchSize = options.batchSize ?? 5000;
  const progress = options.onProgress ?? (() => undefined);
  const started = performance.now();
  await target.dropShadow();
  await target.createShadow();
  log.info({ projection: target.name }, "rebuild: shadow created, replaying");

  let position: Position = 0;
  // Consecutive positions, except across ranges a recovery retired (ADR 0011): those are stepped over, any other hole
  // stops the rebuild. Returns `to` (also when the shadow's last event is below a retired range reaching `to`).
  const retired = eventLog.retiredBetween
    ? (after: Position, upTo: Position) => eventLog.retiredBetween?.(after, upTo) ?? Promise.resolve([])
    : undefined;
  const copy = async (from: Position, to: Position): Promise<Position> => {
    let at = from;
    let applied = from;
    const read = (after: Position) => {
      const limit = Math.min(batchSize, to - after);
      return { limit, page: eventLog.readAll(after, limit) };
    };
    let next = read(at);
    while (at < to) {
      const page = await next.page;
      const { events, reached } = await followOn(page, at, to, page.length < next.limit, retired);
      at = reached;
      if (at < to) next = read(at);
      if (events.length > 0) {
        await target.applyToShadow(events, applied);
        applied = (events[events.length - 1] as RecordedEvent).position;
      }
    }
    return at;
  };

  const replay = async (from: Position, to: Position): Promise<Position> => {
    if (!target.replay) return copy(from, to);
    return target.replay(from, to, (done, total) => progress({ phase: "replay", done, total }));
  };

  try {
    // Replay, then chase the head until the remainder fits in one batch.
    for (;;) {
      const head = await eventLog.headPosition();
      progress({ phase: "replay", done: position, total: head });
      if (head - position <= 0) break;
      position = await replay(position, head);
      if ((await eventLog.headPosition()) - position < batchSize) break;
    }
    const replaySeconds = (performance.now() - started) / 1000;
    const replayedEvents = position;
    log.info({ projection: target.name, position, replaySeconds }, "rebuild: replayed, verifying");

    let verification: Verification | undefined;
    let verifySeconds = 0;
    if (options.verify ?? true) {
      progress({ phase: "verify", done: position, total: position });
      const verifyStarted = performance.now();
      verification = await target.verify(position);
      verifySeconds = (performance.now() - verifyStarted) / 1000;
      if (verification.rows !== verification.expectedRows || verification.checksum !== verification.expectedChecksum) {
        throw new RebuildVerificationError(target.name, verification);
      }
    }
    // What arrived while verifying goes in by the replay too, so the swap's locked catch-up stays short.
    const head = await eventLog.headPosition();
    if (head > position) position = await replay(position, head);
    progress({ phase: "swap", done: position, total: position });
    const swappedAt = await target.swap(position, async (from, to) => {
      if (to > from) await copy(from, to);
    });
    log.info({ projection: target.name, position: swappedAt }, "rebuild: swapped in");
    await target.dropOld();
    progress({ phase: "done", done: swappedAt, total: swappedAt });
    return {
      projection: target.name,
      position: swappedAt,
      replayedEvents,
      replaySeconds,
      replayEventsPerSecond: replaySeconds > 0 ? replayedEvents / replaySeconds : 0,
      verifySeconds,
      totalSeconds: (performance.now() - started) / 1000,
      verification,
    };
  } catch (error) {
    await target.dropShadow().catch(() => undefined);
    throw error;
  }
}
