import type { RecordedEvent } from "@orderly/eventsourcing";
import type pg from "pg";

/**
 * The store-writing half of `pnpm orderly recover` (docs/adr/0011-recovery.md): the only code besides the append that
 * writes `events`, `global_position`, `retired_positions` and the relay's checkpoint row after the fact. Each step is
 * one transaction that first re-reads what it relies on, so a step run twice (a rerun after an interruption) does
 * nothing the second time.
 */
export class StoreRecovery {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Copies events back at their own positions, with their ids, stream versions and metadata (refill: the store lost
   * the tail the stream still holds). `events` must continue the store exactly: the first at `after + 1`, consecutive,
   * and the store's last event must be at `after` when the transaction runs; otherwise nothing is written and a
   * `RecoveryConflictError` says what changed. Moves `global_position.last` to the last event (never backwards), or
   * with `retire` past it to `retire.upTo`, recording the retired range in the same transaction.
   * Idempotency rows of the commands cannot be restored (the request hashes are not on the stream).
   */
  async refill(
    after: number,
    events: readonly RecordedEvent[],
    retire?: { readonly upTo: number; readonly reason: string },
  ): Promise<{ inserted: number; head: number; retired?: { first: number; last: number } }> {
    if (events.length === 0) {
      const retired = retire ? await this.retire(retire.upTo, retire.reason) : undefined;
      return { inserted: 0, head: await this.lastEventPosition(), ...(retired ? { retired } : {}) };
    }
    events.forEach((e, i) => {
      if (e.position !== after + 1 + i) {
        throw new Error(`refill: event ${i} is at position ${e.position}, expected ${after + 1 + i}`);
      }
    });
    const client = await this.pool.connect();
    try {
      await client.query("begin");
      // The counter row first, as every append does: no append runs while we write.
      const counter = await client.query<{ last: string }>(
        "select last::text from global_position where id = 1 for update",
      );
      const last = await client.query<{ position: string | null }>(
        "select max(position)::text as position from events",
      );
      const storeLast = Number(last.rows[0]?.position ?? 0);
      if (storeLast !== after) {
        throw new RecoveryConflictError(`refill after ${after}: the store's last event is now at ${storeLast}`);
      }
      for (let i = 0; i < events.length; i += 5000) {
        const chunk = events.slice(i, i + 5000);
        await client.query(
          `insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id,
              correlation_id, causation_id, traceparent, occurred_at, committed_at, actor, schema_version)
           select * from unnest($1::int8[], $2::uuid[], $3::text[], $4::int8[], $5::text[], $6::jsonb[], $7::uuid[],
              $8::uuid[], $9::uuid[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::text[], $14::int4[])`,
          [
            chunk.map((e) => e.position),
            chunk.map((e) => e.metadata.eventId),
            chunk.map((e) => e.streamId),
            chunk.map((e) => e.streamVersion),
            chunk.map((e) => e.type),
            chunk.map((e) => JSON.stringify(e.data)),
            chunk.map((e) => e.metadata.commandId),
            chunk.map((e) => e.metadata.correlationId),
            chunk.map((e) => e.metadata.causationId),
            chunk.map((e) => e.metadata.traceparent ?? null),
            chunk.map((e) => e.metadata.occurredAt.toISOString()),
            chunk.map((e) => e.committedAt.toISOString()),
            chunk.map((e) => e.metadata.actor || null),
            chunk.map((e) => e.schemaVersion ?? 1),
          ],
        );
      }
      const head = after + events.length;
      const counterLast = Math.max(Number(counter.rows[0]?.last ?? 0), head);
      let retired: { first: number; last: number } | undefined;
      if (retire !== undefined && retire.upTo > counterLast) {
        // In the same transaction: the first append after it must not take a position downstream saw.
        retired = { first: counterLast + 1, last: retire.upTo };
        await client.query("insert into retired_positions (first, last, reason) values ($1, $2, $3)", [
          retired.first,
          retired.last,
          retire.reason,
        ]);
      }
      const counterTo = retired?.last ?? counterLast;
      await client.query("update global_position set last = $1 where id = 1 and last < $1", [counterTo]);
      await client.query("select pg_notify('orderly_events', $1)", [String(head)]);
      await client.query("commit");
      return { inserted: events.length, head, ...(retired ? { retired } : {}) };
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Retires the positions after the counter up to `upTo` (the highest position anything downstream saw): records the
   * range in `retired_positions` and moves `global_position.last` to `upTo`, so no new event ever gets a position the
   * bus or a read model saw for another event. Nothing when the counter is already there. Returns the range retired.
   */
  async retire(upTo: number, reason: string): Promise<{ first: number; last: number } | undefined> {
    const client = await this.pool.connect();
    try {
      await client.query("begin");
      const counter = await client.query<{ last: string }>(
        "select last::text from global_position where id = 1 for update",
      );
      const last = Number(counter.rows[0]?.last ?? 0);
      if (last >= upTo) {
        await client.query("commit");
        return undefined;
      }
      await client.query("insert into retired_positions (first, last, reason) values ($1, $2, $3)", [
        last + 1,
        upTo,
        reason,
      ]);
      await client.query("update global_position set last = $1 where id = 1", [upTo]);
      await client.query("commit");
      return { first: last + 1, last: upTo };
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Sets a relay checkpoint to `mark` exactly (backwards too: a reset republishes the stream from there). */
  async setRelayCheckpoint(name: string, mark: { position: number; eventId: string | undefined }): Promise<void> {
    await this.pool.query(
      `insert into relay_checkpoints (name, position, event_id, updated_at) values ($1, $2, $3, now())
       on conflict (name) do update set position = excluded.position, event_id = excluded.event_id, updated_at = now()`,
      [name, mark.position, mark.eventId ?? null],
    );
  }

  /**
   * The position of the store's last event (0 when empty), or of the last at or below `upTo`; below
   * `global_position.last` after a retirement.
   */
  async lastEventPosition(upTo?: number): Promise<number> {
    const result = await this.pool.query<{ position: string | null }>(
      upTo === undefined
        ? "select max(position)::text as position from events"
        : "select max(position)::text as position from events where position <= $1",
      upTo === undefined ? [] : [upTo],
    );
    return Number(result.rows[0]?.position ?? 0);
  }

  /** The current version of each stream (0 for none): may a lost event be appended again on top of it? */
  async streamVersions(streamIds: readonly string[]): Promise<Map<string, number>> {
    const versions = new Map(streamIds.map((id) => [id, 0]));
    if (streamIds.length === 0) return versions;
    const result = await this.pool.query<{ stream_id: string; version: string }>(
      `select stream_id, max(stream_version)::text as version from events where stream_id = any($1::text[])
        group by stream_id`,
      [streamIds],
    );
    for (const row of result.rows) versions.set(row.stream_id, Number(row.version));
    return versions;
  }

  /** The events whose causation id is one of `eventIds` (a lost event appended again names it as its cause). */
  async causedBy(eventIds: readonly string[]): Promise<Map<string, number>> {
    if (eventIds.length === 0) return new Map();
    const result = await this.pool.query<{ causation_id: string; position: string }>(
      "select causation_id::text, position::text from events where causation_id = any($1::uuid[])",
      [eventIds],
    );
    return new Map(result.rows.map((r) => [r.causation_id, Number(r.position)]));
  }
}

/** What a recovery step relied on changed under it (an append, another recovery): plan again. */
export class RecoveryConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecoveryConflictError";
  }
}
