import { DomainError, ResourceExhaustedError, type StoredEventText, ValidationError } from "@orderly/eventsourcing";
import type { CommitWatch } from "./commit-watch.js";
import type { EventLog, EventLogPage } from "./event-log.js";

// The EventService's use cases: ReadEvents (one page) and SubscribeEvents (catch-up, then live tail), both straight
// from the event store, the source of truth. See docs/events.md.

export const DEFAULT_MAX_COUNT = 100;
export const MAX_MAX_COUNT = 1000;

/** A consumer resumes from a position the store does not hold (yet): the store went back, or the position is wrong. */
export class PositionAheadOfStoreError extends DomainError {
  readonly code = "failed_precondition" as const;
  constructor(position: number, head: number) {
    super(
      `from_position ${position} is beyond the store's last position ${head}: the store was restored to an earlier ` +
        "point or the saved position belongs to another store; resubscribe from a position the store holds " +
        "(the consumer may have seen events the store has lost)",
    );
    this.name = "PositionAheadOfStoreError";
  }
}

/**
 * The store no longer holds the event the subscription sent last at its position: it was restored to an earlier point
 * (and has committed other events at those positions since), replaced by another database, or a recovery retired the
 * position (ADR 0010/0011). Continuing would hand on another timeline's events as if they followed.
 */
export class StoreWentBackUnderSubscriptionError extends DomainError {
  readonly code = "failed_precondition" as const;
  constructor(position: number, eventId: string, found: string | undefined) {
    super(
      `the store no longer holds event ${eventId} at position ${position} (it has ${found === undefined ? "no event" : `event ${found}`} ` +
        "there): it was restored to an earlier point or replaced, and the events this subscription sent may not exist " +
        "in it any more; find out (pnpm orderly status) before resubscribing, from a position the store holds",
    );
    this.name = "StoreWentBackUnderSubscriptionError";
  }
}

export interface EventsOptions {
  readonly log: EventLog;
  readonly commits: CommitWatch;
  /** The event types a filter may name; anything else is INVALID_ARGUMENT. */
  readonly knownTypes: readonly string[];
  /** Events per store read while catching up (default 500): with the HTTP/2 window, what a subscriber holds at most. */
  readonly pageSize?: number;
  /** Re-read at the head this often even without a notification (default 1000 ms). */
  readonly pollMs?: number;
  /** Open subscriptions at most (default 1000); beyond it RESOURCE_EXHAUSTED. */
  readonly maxSubscribers?: number;
  readonly observer?: EventsObserver;
}

export interface EventsObserver {
  /** Events handed to subscribers (counted as they are yielded). */
  sent?(count: number): void;
}

export interface Subscriber {
  readonly id: string;
  /** Position of the last event handed to the consumer (or the cursor it passed, or read past). */
  readonly position: number;
}

interface Call {
  readonly signal: AbortSignal;
}

export class Events {
  readonly #log: EventLog;
  readonly #commits: CommitWatch;
  readonly #known: ReadonlySet<string>;
  readonly #pageSize: number;
  readonly #pollMs: number;
  readonly #maxSubscribers: number;
  readonly #observer: EventsObserver;
  readonly #subscribers = new Map<string, { position: number }>();
  #nextId = 1;

  constructor(options: EventsOptions) {
    this.#log = options.log;
    this.#commits = options.commits;
    this.#known = new Set(options.knownTypes);
    this.#pageSize = options.pageSize ?? 500;
    this.#pollMs = options.pollMs ?? 1000;
    this.#maxSubscribers = options.maxSubscribers ?? 1000;
    this.#observer = options.observer ?? {};
  }

  /** Open subscriptions and their positions (for the lag metrics). */
  get subscribers(): Subscriber[] {
    return [...this.#subscribers].map(([id, s]) => ({ id, position: s.position }));
  }

  /** The head the store last announced. */
  get head(): number {
    return this.#commits.head;
  }

  async readEvents(
    request: { fromPosition: number; maxCount: number; eventTypes: readonly string[] },
    _call?: Call,
  ): Promise<{ events: readonly StoredEventText[]; nextPosition: number }> {
    const from = checkPosition(request.fromPosition);
    const max = request.maxCount === 0 ? DEFAULT_MAX_COUNT : request.maxCount;
    if (!Number.isInteger(max) || max < 1 || max > MAX_MAX_COUNT)
      throw new ValidationError("max_count", `must be 0 (means ${DEFAULT_MAX_COUNT}) or 1-${MAX_MAX_COUNT}`);
    const types = this.#checkTypes(request.eventTypes);
    const page = await this.#log.read(from, max, types);
    if (page.head < from) throw new PositionAheadOfStoreError(from, page.head);
    return { events: page.events, nextPosition: page.readTo };
  }

  /**
   * The events after `fromPosition`, then every new one as it commits, in position order, until the call's signal
   * aborts, a page (one store read, never empty) at a time: one generator step per page, not per event, is what lets
   * catch-up run at the store's read rate. Validation happens before the first event (a bad request fails at once).
   * The generator reads ahead at most one page, so a slow consumer holds at most two.
   */
  subscribe(
    request: { fromPosition: number; eventTypes: readonly string[] },
    call: Call,
  ): AsyncGenerator<readonly StoredEventText[]> {
    const from = checkPosition(request.fromPosition);
    const types = this.#checkTypes(request.eventTypes);
    return this.#follow(from, types, call.signal);
  }

  async *#follow(
    from: number,
    types: readonly string[] | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<readonly StoredEventText[]> {
    // Registered once the generator runs: its finally then always runs too.
    if (this.#subscribers.size >= this.#maxSubscribers)
      throw new ResourceExhaustedError(`too many event subscriptions (at most ${this.#maxSubscribers}); retry later`);
    const id = String(this.#nextId++);
    const state = { position: from };
    this.#subscribers.set(id, state);
    try {
      let cursor = from;
      // While catching up, the next page is read while this one is sent (two pages at most per subscriber): the
      // store's round trip overlaps the sending instead of adding to it.
      let mark = this.#commits.mark();
      let ahead: Promise<EventLogPage> | undefined;
      // The event sent last (its position is the cursor of the next read): every read checks the store still holds it
      // there, in the same snapshot as the page (ADR 0010's mark, one index probe).
      let sentLast: { position: number; eventId: string } | undefined;
      while (!signal.aborted) {
        const page = await (ahead ?? this.#log.read(cursor, this.#pageSize, types));
        ahead = undefined;
        if (page.head < cursor) throw new PositionAheadOfStoreError(cursor, page.head);
        if (sentLast !== undefined && sentLast.position === cursor && page.cursorEventId !== sentLast.eventId)
          throw new StoreWentBackUnderSubscriptionError(cursor, sentLast.eventId, page.cursorEventId);
        const full = page.events.length === this.#pageSize;
        if (full) {
          const next = this.#log.read(page.readTo, this.#pageSize, types);
          // Settled even when the subscription ends before it is awaited.
          next.catch(() => {});
          ahead = next;
        }
        const events = page.events;
        if (events.length > 0) {
          for (const event of events) {
            const position = Number(event.position);
            // The store's promise, checked: a page that went backwards would be a bug here or there, never sent.
            if (position <= cursor) throw new Error(`event log out of order: ${position} after ${cursor}`);
            cursor = position;
          }
          state.position = cursor;
          const last = events[events.length - 1] as StoredEventText;
          sentLast = { position: cursor, eventId: last.eventId };
          this.#observer.sent?.(events.length);
          yield events;
          if (signal.aborted) return;
        }
        cursor = Math.max(cursor, page.readTo);
        state.position = cursor;
        if (!full) {
          await this.#commits.waitBeyond(cursor, mark, this.#pollMs, signal);
          mark = this.#commits.mark();
        }
      }
    } finally {
      this.#subscribers.delete(id);
    }
  }

  #checkTypes(types: readonly string[]): readonly string[] | undefined {
    if (types.length === 0) return undefined;
    for (const type of types) {
      if (!this.#known.has(type))
        throw new ValidationError(
          "event_types",
          `unknown event type ${JSON.stringify(type)}; known: ${[...this.#known].join(", ")}`,
        );
    }
    return [...new Set(types)];
  }
}

function checkPosition(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new ValidationError("from_position", "must be >= 0");
  return value;
}
