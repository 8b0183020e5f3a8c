import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import type pg from "pg";
import { readRetiredRanges } from "./store-status.js";
import { epochMsSql } from "./stored-event-columns.js";

/**
 * An event as the summary fold reads it (the read models' \`FoldRow\` port): \`data\` only for the types whose data
 * the fold uses, \`eventId\` on the last event of a page.
 */
export interface FoldRow {
  readonly position: Position;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly data: unknown;
  /** `actor`: who issued the command, on OrderPlaced rows (the read models' `placedBy`). */
  readonly metadata: { readonly occurredAt: Date; readonly eventId?: string; readonly actor?: string };
}

/**
 * The event log as projectors read it (the projector's \`EventLog\` port and the read models' fold source: gap fetches,
 * catch-up, rebuilds, verification): the `events` table of the event store in position order, tuned for bulk reads.
 * Rows come back as arrays with the timestamps as epoch milliseconds (rounded down, as in every reader of the store:
 * stored-event-columns.ts) and the positions as text, because `pg`'s per-row object and date parsing, not Postgres,
 * is the limit (MEASURED.md).
 */
export class PostgresEventLog {
  constructor(private readonly pool: pg.Pool) {}

  async readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    if (limit <= 0) return [];
    const result = await this.pool.query<unknown[]>({
      name: "projection_read_all",
      text: `select position::text, stream_id, stream_version::text, event_type, data::text, event_id::text,
          command_id::text, correlation_id::text, causation_id::text, traceparent,
          ${epochMsSql("occurred_at")}::float8, ${epochMsSql("committed_at")}::float8, actor
        from events where events.position > $1 order by events.position limit $2`,
      values: [after, limit],
      rowMode: "array",
    });
    const events: RecordedEvent[] = new Array(result.rows.length);
    for (let i = 0; i < result.rows.length; i++) {
      const r = result.rows[i] as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string | null,
        number,
        number,
        string | null,
      ];
      events[i] = {
        position: Number(r[0]),
        streamId: r[1],
        streamVersion: Number(r[2]),
        type: r[3],
        data: JSON.parse(r[4]),
        metadata: {
          eventId: r[5],
          commandId: r[6],
          correlationId: r[7],
          causationId: r[8],
          occurredAt: new Date(r[10]),
          ...(r[9] ? { traceparent: r[9] } : {}),
          ...(r[12] ? { actor: r[12] } : {}),
        },
        committedAt: new Date(r[11]),
      };
    }
    return events;
  }

  /**
   * A page of events with only what the summary fold reads, for rebuilds and verification: `data` only for the types
   * whose data the fold uses (OrderPlaced, PaymentReceived). Postgres joins the page into one text value (a line per
   * event, tab-separated; `jsonb` text never holds a raw tab or newline), so `pg` parses one field per page instead of
   * twelve per row: about three times the rows per second of `readAll` (docs/benchmarks.md). A stream id holding a
   * tab or a newline cannot be an order stream; such a page is refused (the live projection stops at that event too).
   */
  async readForFold(after: Position, limit: number): Promise<FoldRow[]> {
    if (limit <= 0) return [];
    const result = await this.pool.query<[string | null, string | null]>({
      name: "projection_read_for_fold",
      text: `select string_agg(position::text || E'\t' || stream_id || E'\t' || stream_version::text || E'\t' ||
          event_type || E'\t' || ${epochMsSql("occurred_at")}::int8::text || E'\t' ||
          case when event_type = 'OrderPlaced' then encode(convert_to(coalesce(actor, ''), 'UTF8'), 'hex') else '' end
          || E'\t' || case when event_type in ('OrderPlaced', 'PaymentReceived') then data::text else '' end, E'\n'
          order by position),
          (select event_id::text from events where events.position = max(page.position))
        from (select * from events where events.position > $1 order by events.position limit $2) page`,
      values: [after, limit],
      rowMode: "array",
    });
    const [text, lastEventId] = result.rows[0] ?? [];
    if (!text) return [];
    return parseFoldPage(text, lastEventId ?? undefined);
  }

  /** Ranges a recovery retired (ADR 0011) overlapping (after, upTo]: catch-up and rebuilds step over them. */
  retiredBetween(after: Position, upTo: Position): Promise<readonly { first: Position; last: Position }[]> {
    return readRetiredRanges(this.pool, after, upTo);
  }

  /**
   * The last event's position. Not `global_position.last`: after a recovery retired positions (docs/adr/0011) the
   * counter stands past the last event, and a reader chasing the counter would wait for events that never come.
   */
  async headPosition(): Promise<Position> {
    const result = await this.pool.query<[string]>({
      name: "projection_head_position",
      text: "select coalesce(max(position), 0)::text from events",
      rowMode: "array",
    });
    return Number(result.rows[0]?.[0] ?? 0);
  }
}

/** The lines of `readForFold`'s page as events, the last one with its event id (exported for its test). */
export function parseFoldPage(text: string, lastEventId?: string): FoldRow[] {
  const events: FoldRow[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const t1 = text.indexOf("\t", start);
    const t2 = text.indexOf("\t", t1 + 1);
    const t3 = text.indexOf("\t", t2 + 1);
    const t4 = text.indexOf("\t", t3 + 1);
    const t5 = text.indexOf("\t", t4 + 1);
    const t6 = text.indexOf("\t", t5 + 1);
    const t7 = t6 < 0 ? -1 : text.indexOf("\t", t6 + 1);
    if (t1 < 0 || t6 < 0 || t6 >= end || (t7 !== -1 && t7 < end)) {
      throw new Error(`event log page: malformed line after position ${events[events.length - 1]?.position ?? "?"}`);
    }
    const data = end > t6 + 1 ? JSON.parse(text.slice(t6 + 1, end)) : undefined;
    const occurredAt = new Date(Number(text.slice(t4 + 1, t5)));
    // The actor (OrderPlaced only) comes hex-encoded: a `sub` may hold tabs and newlines.
    const actor = t6 > t5 + 1 ? Buffer.from(text.slice(t5 + 1, t6), "hex").toString("utf8") : "";
    events.push({
      position: Number(text.slice(start, t1)),
      streamId: text.slice(t1 + 1, t2),
      streamVersion: Number(text.slice(t2 + 1, t3)),
      type: text.slice(t3 + 1, t4),
      data,
      metadata: actor === "" ? { occurredAt } : { occurredAt, actor },
    });
    start = end + 1;
  }
  const last = events[events.length - 1];
  if (last && lastEventId !== undefined) {
    events[events.length - 1] = { ...last, metadata: { ...last.metadata, eventId: lastEventId } };
  }
  return events;
}
