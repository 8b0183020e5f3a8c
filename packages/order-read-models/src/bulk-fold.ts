import type { Position } from "@orderly/eventsourcing";
import { EventLogGapError, followOn, type RetiredRange, type UnknownEventPolicy } from "@orderly/projector";
import { evolveSummary, type FoldableEvent, type OrderSummaryView, orderIdOf } from "./order-summary.js";
import { screenUnknown, skipUnknown } from "./unknown-types.js";

/** Pages of the event log as the fold reads them (`PostgresEventLog.readForFold`; any `EventLog.readAll` works too). */
export interface FoldSource {
  readForFold(after: Position, limit: number): Promise<readonly FoldableEvent[]>;
  /** Ranges a recovery retired (ADR 0011): holes the fold steps over. Without it every hole stops the fold. */
  retiredBetween?(after: Position, upTo: Position): Promise<readonly RetiredRange[]>;
}

/** A rebuild's shadow as the bulk fold writes it. */
export interface ShadowWriter {
  /**
   * Writes whole summaries: new orders, or orders written before (a later write of an order always carries a later
   * `lastPosition`; two writes may be in flight at once, so the writer keeps the later one).
   */
  write(rows: readonly OrderSummaryView[]): Promise<void>;
  /** Reads back summaries written earlier (orders the fold let go of to bound its memory). */
  load(orderIds: readonly string[]): Promise<Map<string, OrderSummaryView>>;
  /**
   * Records that the shadow now holds every event up to the mark's position, the mark being the last event folded
   * (after every write before it completed).
   */
  setCheckpoint(mark: FoldMark): Promise<void>;
}

export interface BulkFoldOptions {
  /** Events per read (default 20,000). */
  readonly pageSize?: number;
  /** Summaries per write (default 5,000). */
  readonly writeBatch?: number;
  /** Writes in flight (default 2). */
  readonly writeConcurrency?: number;
  /**
   * An order untouched for this many events is written while the read goes on (default 200,000), so reading and
   * writing overlap; one touched again later is written again.
   */
  readonly quietEvents?: number;
  /** Summaries held in memory (default 1,000,000); beyond, the least recently touched are written and let go. */
  readonly maxOrders?: number;
  /**
   * What an event type this code does not know does (PROJECTOR_UNKNOWN_EVENT_TYPES), as in the live projections:
   * default stop at it (the fold throws), or skip it (reported to the policy, the order's version moves past it).
   */
  readonly unknownTypes?: UnknownEventPolicy;
}

/** The event a shadow's checkpoint stands on (`eventId` undefined when the log did not say). */
export interface FoldMark {
  readonly position: Position;
  readonly eventId: string | undefined;
}

/** Where a replay stands, in positions: `done` of `total`. */
export interface FoldProgress {
  readonly done: Position;
  readonly total: Position;
}

/**
 * The rebuild's replay: reads the log in large pages (the next one in flight while this one folds), folds every
 * event into its order's summary in memory with the same `evolveSummary` as the live projections and the
 * verification, and writes each order about once — when it has been quiet for `quietEvents`, or at the end — instead
 * of once per batch that touches it. Memory is bounded by `maxOrders`: past it the least recently touched orders are
 * written and dropped, and read back from the shadow if a later event needs them.
 */
export class BulkFold {
  private readonly summaries = new Map<string, OrderSummaryView>();
  /** Orders changed since they were last written. */
  private readonly dirty = new Set<string>();
  /** Every change, in log order (order id, position): popped once older than the quiet window. */
  private touchedIds: string[] = [];
  private touchedAt: Position[] = [];
  private head = 0;
  private letGo = false;
  private readonly writes = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  private readonly pageSize: number;
  private readonly writeBatch: number;
  private readonly writeConcurrency: number;
  private readonly quietEvents: number;
  private readonly maxOrders: number;
  /** The policy in `skip` mode; undefined in `stop` mode (the fold refuses an unknown type). */
  private readonly skipping: UnknownEventPolicy | undefined;
  /** Rows written so far (an order written twice counts twice). */
  rowsWritten = 0;

  constructor(
    private readonly source: FoldSource,
    private readonly writer: ShadowWriter,
    options: BulkFoldOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 20_000;
    this.writeBatch = options.writeBatch ?? 5_000;
    this.writeConcurrency = options.writeConcurrency ?? 2;
    this.quietEvents = options.quietEvents ?? 200_000;
    this.maxOrders = options.maxOrders ?? 1_000_000;
    this.skipping = options.unknownTypes?.mode === "skip" ? options.unknownTypes : undefined;
  }

  /** Orders held in memory. */
  get orders(): number {
    return this.summaries.size;
  }

  /**
   * Folds the events after `from` up to `to` into the shadow, writes everything still unwritten and sets the shadow's
   * checkpoint to `to`. `from` must be where the previous replay of this fold ended (0 the first time).
   */
  async replay(from: Position, to: Position, onProgress?: (progress: FoldProgress) => void): Promise<Position> {
    let at = from;
    let eventId: string | undefined;
    // `read`: where the reading got (past a retired range at the end of a page); `at`: the last event folded.
    let read = from;
    let next = read < to ? this.read(read, to) : undefined;
    const source = this.source;
    const retired = source.retiredBetween
      ? (after: Position, upTo: Position) => source.retiredBetween?.(after, upTo) ?? Promise.resolve([])
      : undefined;
    while (next !== undefined) {
      const { page: raw, limit } = await next;
      const { events: page, reached } = await followOn(raw, read, to, raw.length < limit, retired).catch(
        (error: unknown) => {
          throw error instanceof EventLogGapError
            ? new Error(`event log returned a non-consecutive page after ${read}: ${error.message}`)
            : error;
        },
      );
      read = reached;
      next = read < to ? this.read(read, to) : undefined;
      const last = page[page.length - 1];
      if (!last) continue;
      // Skipped unknown types still move the checkpoint (to `last`); only the fold passes them over.
      const folded = this.skipping ? screenUnknown(page, this.skipping) : page;
      await this.restoreLetGo(folded);
      this.fold(folded);
      at = last.position;
      eventId = last.metadata.eventId;
      await this.flushQuiet(at);
      onProgress?.({ done: at, total: to });
    }
    for (const batch of this.takeDirty()) await this.write(batch);
    await this.drain();
    if (at > from) await this.writer.setCheckpoint({ position: at, eventId });
    return at;
  }

  private read(after: Position, to: Position): Promise<{ page: readonly FoldableEvent[]; limit: number }> {
    const limit = Math.min(this.pageSize, to - after);
    const page = this.source.readForFold(after, limit).then((events) => ({ page: events, limit }));
    page.catch(() => undefined); // awaited later; a fold error in between must not leave it unhandled
    return page;
  }

  private fold(page: readonly FoldableEvent[]): void {
    const skipping = this.skipping;
    for (const event of page) {
      const id = orderIdOf(event);
      const before = this.summaries.get(id);
      const skipped = skipping && skipUnknown(before, event, skipping);
      const after = skipped ? skipped.after : evolveSummary(before, event);
      if (after === before || after === undefined) continue;
      this.summaries.set(id, after);
      this.dirty.add(id);
      this.touchedIds.push(id);
      this.touchedAt.push(event.position);
    }
  }

  /** Reads back the summaries of orders let go of earlier that this page continues. */
  private async restoreLetGo(page: readonly FoldableEvent[]): Promise<void> {
    if (!this.letGo) return;
    const ids = new Set<string>();
    for (const event of page) {
      if (event.streamVersion === 1) continue;
      const id = orderIdOf(event);
      if (!this.summaries.has(id)) ids.add(id);
    }
    if (ids.size === 0) return;
    await this.drain();
    for (const [id, summary] of await this.writer.load([...ids])) this.summaries.set(id, summary);
  }

  /** Writes the orders quiet since `quietEvents` before `at` (and lets go of the oldest while over `maxOrders`). */
  private async flushQuiet(at: Position): Promise<void> {
    let batch: OrderSummaryView[] = [];
    while (this.head < this.touchedIds.length) {
      const over = this.summaries.size > this.maxOrders;
      const position = this.touchedAt[this.head] as Position;
      if (!over && position > at - this.quietEvents) break;
      const id = this.touchedIds[this.head] as string;
      this.head++;
      const summary = this.summaries.get(id);
      if (!summary || summary.lastPosition !== position) continue; // touched again since: a later entry follows
      if (this.dirty.delete(id)) batch.push(summary);
      if (over) {
        this.summaries.delete(id);
        this.letGo = true;
      }
      if (batch.length >= this.writeBatch) {
        await this.write(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await this.write(batch);
    if (this.head > 1 << 20) {
      this.touchedIds = this.touchedIds.slice(this.head);
      this.touchedAt = this.touchedAt.slice(this.head);
      this.head = 0;
    }
  }

  private *takeDirty(): Generator<OrderSummaryView[]> {
    let batch: OrderSummaryView[] = [];
    for (const id of this.dirty) {
      batch.push(this.summaries.get(id) as OrderSummaryView);
      if (batch.length >= this.writeBatch) {
        yield batch;
        batch = [];
      }
    }
    this.dirty.clear();
    if (batch.length > 0) yield batch;
  }

  /** Starts a write once fewer than `writeConcurrency` are in flight. */
  private async write(rows: readonly OrderSummaryView[]): Promise<void> {
    while (this.writes.size >= this.writeConcurrency) await Promise.race(this.writes);
    this.throwIfFailed();
    const done: Promise<void> = this.writer.write(rows).then(
      () => {
        this.rowsWritten += rows.length;
        this.writes.delete(done);
      },
      (error: unknown) => {
        this.failure ??= { error };
        this.writes.delete(done);
      },
    );
    this.writes.add(done);
  }

  private async drain(): Promise<void> {
    await Promise.all(this.writes);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

/** Any `EventLog` as a fold source (its `readForFold` when it has one). */
export function foldSourceOf(log: {
  readAll(after: Position, limit: number): Promise<readonly FoldableEvent[]>;
  readForFold?: (after: Position, limit: number) => Promise<readonly FoldableEvent[]>;
  retiredBetween?: (after: Position, upTo: Position) => Promise<readonly RetiredRange[]>;
}): FoldSource {
  const fast = log.readForFold;
  const retired = log.retiredBetween;
  return {
    readForFold: fast ? (after, limit) => fast.call(log, after, limit) : (after, limit) => log.readAll(after, limit),
    ...(retired ? { retiredBetween: (after: Position, upTo: Position) => retired.call(log, after, upTo) } : {}),
  };
}
