import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import type { EventLog } from "@orderly/projector";
import type pg from "pg";

/**
 * The event log as projectors read it (gap fetches, catch-up, rebuilds): the `events` table of the event store in
 * position order, tuned for bulk reads. Rows come back as arrays with the timestamps as epoch milliseconds and the
 * positions as text, because `pg`'s per-row object and date parsing, not Postgres, is the limit (MEASURED.md).
 */
export class PostgresEventLog implements EventLog {
  constructor(private readonly pool: pg.Pool) {}

  async readAll(after: Position, limit: number): Promise<readonly RecordedEvent[]> {
    if (limit <= 0) return [];
    const result = await this.pool.query<unknown[]>({
      name: "projection_read_all",
      text: `select position::text, stream_id, stream_version::text, event_type, data::text, event_id::text,
          command_id::text, correlation_id::text, causation_id::text, traceparent,
          (extract(epoch from occurred_at) * 1000)::float8, (extract(epoch from committed_at) * 1000)::float8
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
          occurredAt: new Date(Math.round(Number(r[10]))),
          ...(r[9] ? { traceparent: r[9] } : {}),
        },
        committedAt: new Date(Math.round(Number(r[11]))),
      };
    }
    return events;
  }

  async headPosition(): Promise<Position> {
    const result = await this.pool.query<[string]>({
      name: "projection_head_position",
      text: "select last::text from global_position where id = 1",
      rowMode: "array",
    });
    return Number(result.rows[0]?.[0] ?? 0);
  }
}
