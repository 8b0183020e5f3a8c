import type { Position } from "@orderly/eventsourcing";

/** Positions a recovery retired (`retired_positions`, ADR 0011): known to hold no event, ever. */
export interface RetiredRange {
  readonly first: Position;
  readonly last: Position;
}

/** Where retired ranges come from: the event log, when the store has them (`EventLog.retiredBetween`). */
export type RetiredLookup = ((after: Position, upTo: Position) => Promise<readonly RetiredRange[]>) | undefined;

/** The log has a hole that no recovery explains: a reader stops there rather than skip it. */
export class EventLogGapError extends Error {
  constructor(
    readonly after: Position,
    readonly next: Position | undefined,
    readonly upTo: Position,
  ) {
    super(
      next === undefined
        ? `event log has nothing after ${after} (expected up to ${upTo}), and no recovery retired those positions`
        : `event log returned position ${next} after ${after}: positions ${after + 1}..${next - 1} hold no event and no recovery retired them`,
    );
    this.name = "EventLogGapError";
  }
}

/** True when every position from `from` to `to` (inclusive) lies inside one of `ranges` (sorted by `first`). */
export function covered(ranges: readonly RetiredRange[], from: Position, to: Position): boolean {
  let next = from;
  for (const r of ranges) {
    if (next > to) break;
    if (r.last < next) continue;
    if (r.first > next) return false;
    next = r.last + 1;
  }
  return next > to;
}

/**
 * A page of the log read after `after`, checked against the positions it must continue: consecutive, except across
 * retired ranges (recorded, not silent). Returns the events at or below `upTo` and how far the reader got: the last
 * of them, or `upTo` when everything between it and `upTo` is retired. `exhausted`: the page holds every event up to
 * `upTo` the log has (it came back short, or reaches past `upTo`); only then can a hole at the end be judged.
 * Throws EventLogGapError at a hole no retired range explains.
 */
export async function followOn<E extends { readonly position: Position }>(
  page: readonly E[],
  after: Position,
  upTo: Position,
  exhausted: boolean,
  retired: RetiredLookup,
): Promise<{ readonly events: E[]; readonly reached: Position }> {
  let ranges: readonly RetiredRange[] | undefined;
  const bridged = async (from: Position, to: Position): Promise<boolean> => {
    if (retired === undefined) return false;
    ranges ??= await retired(after, upTo);
    return covered(ranges, from, to);
  };
  const events: E[] = [];
  let at = after;
  for (const event of page) {
    if (event.position <= at) throw new Error(`event log returned position ${event.position} after ${at}`);
    if (event.position > upTo) {
      exhausted = true;
      break;
    }
    if (event.position !== at + 1 && !(await bridged(at + 1, event.position - 1))) {
      throw new EventLogGapError(at, event.position, upTo);
    }
    events.push(event);
    at = event.position;
  }
  if (at < upTo && exhausted) {
    if (!(await bridged(at + 1, upTo))) throw new EventLogGapError(at, undefined, upTo);
    at = upTo;
  }
  return { events, reached: at };
}
