import type pg from "pg";

/**
 * Where a downstream reader stands: the last event it took from the store (or from the stream fed by it). Position
 * alone is not enough, since Postgres can go back (a restore, a failover to a lagging replica, a new database under an
 * old namespace) and then give the same positions to other events.
 */
export interface StoreMark {
  readonly position: number;
  /** Undefined for checkpoints written before marks existed: only the position can be checked then. */
  readonly eventId: string | undefined;
  /** The store the mark was taken from, where the checkpoint stores it. */
  readonly storeId?: string | undefined;
}

export type ContinuityResult =
  | { readonly kind: "ok"; readonly head: number; readonly storeId: string }
  /** The store's head is below the mark: it lost events that downstream already saw. */
  | {
      readonly kind: "behind";
      readonly head: number;
      readonly storeId: string;
      readonly position: number;
      readonly eventId?: string;
    }
  /**
   * The mark names an event at a position that a recovery retired (ADR 0011): the event was lost when the store went
   * back and no event will ever stand there. Never applied or published; a reader whose checkpoint is past the
   * position, or who will never be handed the event again (the stream was recreated), is not held up by it.
   */
  | {
      readonly kind: "lost";
      readonly head: number;
      readonly storeId: string;
      readonly position: number;
      readonly expectedEventId: string;
    }
  /** The store holds another event at the mark's position ("" when it holds none there). */
  | {
      readonly kind: "mismatch";
      readonly head: number;
      readonly storeId: string;
      readonly position: number;
      readonly expectedEventId: string;
      readonly storeEventId: string;
    };

export type Divergence = Exclude<ContinuityResult, { kind: "ok" }>;

export interface StoreContinuityOptions {
  /** Client-side bound of each look-up, waiting for a pooled connection included (default 5 s). */
  readonly queryTimeoutMs?: number;
}

/** The command that brings every component back to agreement with the store (see README "When Postgres goes back"). */
export const RECOVER_COMMAND = "pnpm orderly recover";

/**
 * Checks marks against the event store: is the event the mark names still in the store at that position? The one place
 * that knows how (the store's tables belong to this package); the relay, the projectors and the command service's gate
 * call it. A check is one primary-key look-up; only a mark the store does not hold costs a second one (retired ranges).
 */
export class StoreContinuity {
  readonly #pool: pg.Pool;
  readonly #timeoutMs: number;
  #storeId: string | undefined;

  constructor(pool: pg.Pool, options: StoreContinuityOptions = {}) {
    this.#pool = pool;
    this.#timeoutMs = options.queryTimeoutMs ?? 5_000;
  }

  /** The store's identity, made with its schema (migration 0006): a restore keeps it, a new database has another. */
  async storeId(): Promise<string> {
    const result = await this.#query<{ store_id: string }>({
      name: "orderly_store_id",
      text: "select store_id::text from store_identity where id = 1",
    });
    const storeId = result.rows[0]?.store_id;
    if (storeId === undefined) throw new Error("the event store has no store_identity row (migration 0006 missing?)");
    this.#storeId = storeId;
    return storeId;
  }

  async head(): Promise<number> {
    const result = await this.#query<{ last: string }>({
      name: "orderly_continuity_head",
      text: "select last::text from global_position where id = 1",
    });
    return Number(result.rows[0]?.last ?? 0);
  }

  /**
   * ok: position 0; the store holds the mark's event at its position (or holds an event there and the mark has no id
   * to compare); or the position is retired (a recovery skipped it) and the mark names no event (a checkpoint that
   * recovery moved past the retired positions). lost: the position is retired and the mark names an event, which is
   * not in the store: an event of the timeline the store lost (a stream not yet recreated still delivers them).
   * behind: the store's head is below the position. mismatch: the store holds another event there, or none.
   */
  async check(mark: { position: number; eventId: string | undefined }): Promise<ContinuityResult> {
    const result = await this.#query<{ head: string; store_id: string; event_id: string | null }>({
      name: "orderly_continuity_check",
      text: `select g.last::text as head, s.store_id::text, e.event_id::text
               from global_position g cross join store_identity s left join events e on e.position = $1
              where g.id = 1 and s.id = 1`,
      values: [mark.position],
    });
    const row = result.rows[0];
    if (row === undefined) throw new Error("the event store has no global_position or store_identity row");
    const head = Number(row.head);
    const storeId = row.store_id;
    this.#storeId = storeId;
    if (mark.position <= 0) return { kind: "ok", head, storeId };
    if (row.event_id !== null) {
      if (mark.eventId === undefined || sameId(row.event_id, mark.eventId)) return { kind: "ok", head, storeId };
      return {
        kind: "mismatch",
        head,
        storeId,
        position: mark.position,
        expectedEventId: mark.eventId,
        storeEventId: row.event_id,
      };
    }
    // The store holds nothing at the position: fine only if a recovery retired it and the event is not elsewhere.
    const retired = await this.#query<{ retired: boolean; stored_at: string | null }>({
      name: "orderly_continuity_retired",
      text: `select exists (select 1 from (select last from retired_positions where first <= $1
                                            order by first desc limit 1) r where r.last >= $1) as retired,
                    (select position::text from events where event_id = $2::uuid) as stored_at`,
      values: [mark.position, mark.eventId ?? null],
    });
    const found = retired.rows[0];
    if (found?.retired === true && found.stored_at === null) {
      // Only a mark without an event may stand on a retired position: an event there is one the store lost.
      if (mark.eventId === undefined) return { kind: "ok", head, storeId };
      return { kind: "lost", head, storeId, position: mark.position, expectedEventId: mark.eventId };
    }
    if (mark.position > head)
      return mark.eventId === undefined
        ? { kind: "behind", head, storeId, position: mark.position }
        : { kind: "behind", head, storeId, position: mark.position, eventId: mark.eventId };
    return {
      kind: "mismatch",
      head,
      storeId,
      position: mark.position,
      expectedEventId: mark.eventId ?? "",
      storeEventId: "",
    };
  }

  /**
   * The port the relay and the projectors declare (`ContinuityCheck`): undefined when the store holds the mark,
   * otherwise the one line to log (see `describeDivergence`). Throws when the store cannot be asked.
   */
  async diverges(mark: { position: number; eventId: string | undefined }, what: string): Promise<string | undefined> {
    const result = await this.check(mark);
    return result.kind === "ok" ? undefined : describeDivergence(what, result);
  }

  /**
   * Is the position inside a range a recovery retired? A reader that stopped on a `lost` event resumes once its
   * checkpoint is moved past it or the stream no longer hands it out; it never applies it.
   */
  async isRetired(position: number): Promise<boolean> {
    const result = await this.#query<{ retired: boolean }>({
      name: "orderly_continuity_is_retired",
      text: `select exists (select 1 from (select last from retired_positions where first <= $1
                                          order by first desc limit 1) r where r.last >= $1) as retired`,
      values: [position],
    });
    return result.rows[0]?.retired === true;
  }

  /** The id last read from the store, if any (for logs and status without a round trip). */
  get knownStoreId(): string | undefined {
    return this.#storeId;
  }

  async #query<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    const timed: pg.QueryConfig & { query_timeout: number } = { ...config, query_timeout: this.#timeoutMs };
    return this.#pool.query<R>(timed);
  }
}

function sameId(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

/**
 * The one error line a component logs when it finds the store diverged from what it (or the stream) saw: both
 * positions, both event ids, and the command that repairs it.
 */
export function describeDivergence(what: string, divergence: Divergence): string {
  if (divergence.kind === "behind")
    return (
      `the event store is behind ${what}: ${what} stands on position ${divergence.position}` +
      `${divergence.eventId === undefined ? "" : ` (event ${divergence.eventId})`}, the store's head is ` +
      `${divergence.head} (store ${divergence.storeId}); it was restored or replaced. Nothing is applied or ` +
      `published until it agrees again: run \`${RECOVER_COMMAND}\``
    );
  if (divergence.kind === "lost")
    return (
      `${what} has event ${divergence.expectedEventId} at position ${divergence.position}, which a recovery retired: ` +
      `the event was lost when the store went back (head ${divergence.head}, store ${divergence.storeId}) and is ` +
      `never applied or published. Nothing is applied or published until the stream no longer holds it: finish ` +
      `\`${RECOVER_COMMAND}\``
    );
  const held = divergence.storeEventId === "" ? "no event" : `event ${divergence.storeEventId}`;
  return (
    `the event store differs from ${what}: ${what} has event ${divergence.expectedEventId || "(unknown id)"} at ` +
    `position ${divergence.position}, the store holds ${held} there (head ${divergence.head}, store ` +
    `${divergence.storeId}); it was restored or replaced. Nothing is applied or published until it agrees again: ` +
    `run \`${RECOVER_COMMAND}\``
  );
}
