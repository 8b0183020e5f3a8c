import {
  type AppendRequest,
  type CommandOutcome,
  ResourceExhaustedError,
  UnavailableError,
} from "@orderly/eventsourcing";
import { testAppendRequest, testUuid } from "@orderly/eventsourcing/testing";
import { eventually } from "@orderly/testing";
import { describe, expect, it } from "vitest";
import { PostgresEventStore } from "./postgres-event-store.js";
import { endPool, range, storeTestDatabase } from "./store-test-database.js";

const db = storeTestDatabase();
const { newPool, rawClient, startKilling, expectAcknowledgedStored } = db;

/**
 * Follows the log like the outbox relay does (readAll past a checkpoint) and records every position it sees. It
 * fails the moment a page does not continue exactly where the previous one ended, or when the head it read is not
 * readable right afterwards: either would mean a reader skipped an event that committed later.
 */
function startFollower(store: PostgresEventStore) {
  const seen: number[] = [];
  const problems: string[] = [];
  let stopAt: number | undefined;
  const done = (async () => {
    let after = 0;
    for (;;) {
      const head = await store.headPosition();
      for (;;) {
        const page = await store.readAll(after, 50);
        page.forEach((event, i) => {
          if (event.position !== after + i + 1) problems.push(`after ${after} read ${event.position} at index ${i}`);
        });
        if (page.length === 0) break;
        seen.push(...page.map((e) => e.position));
        after = page.at(-1)?.position ?? after;
      }
      if (after < head) problems.push(`head was ${head} but the log ended at ${after}`);
      if (stopAt !== undefined && after >= stopAt) return;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    seen,
    problems,
    async stop(at: number) {
      stopAt = at;
      await done;
    },
  };
}

describe("PostgresEventStore (Postgres only)", () => {
  it("group-commits a burst: concurrent appends share one transaction", async () => {
    const store = new PostgresEventStore(db.pool);
    const outcomes = await Promise.all(range(1, 200).map(() => store.append(testAppendRequest(`order-${testUuid()}`))));
    expect(outcomes.map((o) => o.position).sort((a, b) => a - b)).toEqual(range(1, 200));
    expect(store.stats).toEqual({ batches: 1, commands: 200, largestBatch: 200 });
  });

  it("splits a burst into batches of at most maxBatchSize, and reports each one to onBatch", async () => {
    const batches: { commands: number; seconds: number }[] = [];
    const store = new PostgresEventStore(db.pool, {
      maxBatchSize: 64,
      onBatch: (commands, seconds) => batches.push({ commands, seconds }),
    });
    await Promise.all(range(1, 200).map(() => store.append(testAppendRequest(`order-${testUuid()}`))));
    expect(store.stats).toMatchObject({ commands: 200, largestBatch: 64 });
    expect(store.stats.batches).toBeGreaterThanOrEqual(4);
    expect(batches).toHaveLength(store.stats.batches);
    expect(batches.reduce((sum, b) => sum + b.commands, 0)).toBe(200);
    expect(Math.max(...batches.map((b) => b.commands))).toBe(64);
    for (const { seconds } of batches) expect(seconds).toBeGreaterThan(0);
  });

  it("identical requests racing through two stores (two pools, as two service instances): one accepted, the rest duplicates", async () => {
    const stores = [new PostgresEventStore(newPool({ max: 2 })), new PostgresEventStore(newPool({ max: 2 }))];
    const streamId = `order-${testUuid()}`;
    const outcomes = await Promise.all(
      range(0, 19).map((i) =>
        (stores[i % 2] as PostgresEventStore).append(
          testAppendRequest(streamId, { key: "two-stores", expectedVersion: "no_stream" }),
        ),
      ),
    );
    expect(outcomes.filter((o) => !o.duplicate)).toHaveLength(1);
    expect(new Set(outcomes.map((o) => `${o.commandId}/${o.position}/${o.streamVersion}`)).size).toBe(1);
    expect((await stores[0]?.readStream(streamId))?.events).toHaveLength(1);
    expect(await stores[0]?.headPosition()).toBe(1);
  });

  it("fails fast with ResourceExhaustedError beyond maxQueuedAppends, and serves the queued ones", async () => {
    const store = new PostgresEventStore(db.pool, { maxQueuedAppends: 5 });
    const results = await Promise.allSettled(
      range(1, 8).map(() => store.append(testAppendRequest(`order-${testUuid()}`))),
    );
    expect(results.map((r) => r.status)).toEqual([
      ...range(1, 5).map(() => "fulfilled"),
      "rejected",
      "rejected",
      "rejected",
    ]);
    for (const r of results.slice(5))
      expect(r.status === "rejected" && r.reason).toBeInstanceOf(ResourceExhaustedError);
    expect(await store.headPosition()).toBe(5);
  });

  it("fails only the command whose data the database refuses, not its batch", async () => {
    const store = new PostgresEventStore(db.pool);
    const first = testAppendRequest(`order-${testUuid()}`);
    await store.append(first);
    const reusedEventId: AppendRequest = {
      ...testAppendRequest(`order-${testUuid()}`),
      events: first.events,
    };
    const results = await Promise.allSettled([
      store.append(testAppendRequest(`order-${testUuid()}`, { key: "ok-1" })),
      store.append(reusedEventId),
      store.append(testAppendRequest(`order-${testUuid()}`, { key: "ok-2" })),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((await store.readAll(0, 10)).map((e) => e.position)).toEqual([1, 2, 3]);
  });

  it("notifies orderly_events with the last position of each committed batch", async () => {
    const listener = await rawClient();
    try {
      const payloads: string[] = [];
      listener.on("notification", (message) => {
        if (message.channel === "orderly_events") payloads.push(message.payload ?? "");
      });
      await listener.query("listen orderly_events");
      const store = new PostgresEventStore(db.pool);
      await store.append(
        testAppendRequest(`order-${testUuid()}`, {
          events: [
            { type: "A", data: {} },
            { type: "B", data: {} },
          ],
        }),
      );
      await Promise.all(range(1, 5).map(() => store.append(testAppendRequest(`order-${testUuid()}`))));
      await eventually(() => payloads.length >= 2, "two notifications");
      expect(payloads).toEqual(["2", "7"]);
    } finally {
      await listener.end();
    }
  });

  it("a transaction holding the position counter longer than lockTimeoutMs makes appends UNAVAILABLE, not stuck", async () => {
    const store = new PostgresEventStore(db.pool, { lockTimeoutMs: 200 });
    const holder = await rawClient();
    try {
      await holder.query("begin");
      await holder.query("select last from global_position where id = 1 for update");
      const error = await store.append(testAppendRequest(`order-${testUuid()}`)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      await holder.query("rollback");
      expect(await store.append(testAppendRequest(`order-${testUuid()}`))).toMatchObject({ position: 1 });
    } finally {
      await holder.end();
    }
  });

  it("late commit: no reader skips a slow transaction that took positions before faster appenders", async () => {
    const store = new PostgresEventStore(db.pool, { lockTimeoutMs: 60_000 });
    await Promise.all(range(1, 3).map(() => store.append(testAppendRequest(`order-${testUuid()}`))));
    const followers = [startFollower(store), startFollower(store)];

    // The slow appender: it takes position 4 through the same function and then keeps its transaction open.
    const slow = await rawClient();
    const slowEventId = testUuid();
    await slow.query("begin");
    const taken = await slow.query(
      `select r_position from orderly_append(array['order-slow'], array[null]::bigint[], array[null]::text[],
         array[null]::text[], array[1], array[$1::uuid], array['SlowThingHappened'], array['{}'], array[$1::uuid],
         array[$1::uuid], array[$1::uuid], array[null]::text[], array[now()], array[null]::text[], array[1])`,
      [slowEventId],
    );
    expect(Number(taken.rows[0].r_position)).toBe(4);

    // Faster appenders arrive while it is open: they must wait behind it (the counter row is locked) ...
    const fast = range(1, 20).map(() => store.append(testAppendRequest(`order-${testUuid()}`)));
    await eventually(async () => {
      const waiting = await db.pool.query(
        "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
      );
      return waiting.rows[0].n >= 1;
    }, "an appender waiting for the position counter");
    // ... and meanwhile no reader sees past the last committed position.
    for (let i = 0; i < 20; i++) {
      expect(await store.headPosition()).toBe(3);
      expect((await store.readAll(3, 100)).length).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await slow.query("commit");
    await slow.end();

    const outcomes = await Promise.all(fast);
    expect(outcomes.map((o) => o.position).sort((a, b) => a - b)).toEqual(range(5, 24));
    for (const follower of followers) await follower.stop(24);
    for (const follower of followers) {
      expect(follower.problems).toEqual([]);
      expect(follower.seen).toEqual(range(1, 24));
    }
    const all = await store.readAll(0, 100);
    expect(all.map((e) => e.position)).toEqual(range(1, 24));
    expect(all[3]?.metadata.eventId).toBe(slowEventId);
  });

  it("16 concurrent writers: positions exactly 1..N, every event exactly once, versions without holes", async () => {
    // One connection per writer: 16 sessions competing for the counter, and gentle on the shared server.
    const writerPools = range(1, 16).map(() => newPool({ max: 1 }));
    const writers = writerPools.map((p) => new PostgresEventStore(p, { lockTimeoutMs: 60_000, maxBatchSize: 32 }));
    const follower = startFollower(writers[0] as PostgresEventStore);
    const sharedStreams = range(1, 4).map(() => `order-${testUuid()}`);
    const submitted: AppendRequest[] = [];
    const perWriter = 120;
    await Promise.all(
      writers.map(async (writer, w) => {
        // Eight appends in flight per writer, a mix of new streams, shared streams and multi-event commands.
        const lanes = range(1, 8).map(async (lane) => {
          for (let i = lane - 1; i < perWriter; i += 8) {
            const shared = i % 5 === 0;
            const request = testAppendRequest(shared ? (sharedStreams[i % 4] as string) : `order-${testUuid()}`, {
              key: `w${w}-${i}`,
              events: range(1, 1 + (i % 3)).map((n) => ({ type: "ThingHappened", data: { w, i, n } })),
            });
            submitted.push(request);
            await writer.append(request);
          }
        });
        await Promise.all(lanes);
      }),
    );
    const total = submitted.reduce((sum, r) => sum + r.events.length, 0);
    await follower.stop(total);
    expect(follower.problems).toEqual([]);
    expect(follower.seen).toEqual(range(1, total));

    const store = new PostgresEventStore(db.pool);
    const all = await store.readAll(0, total + 100);
    expect(all.map((e) => e.position)).toEqual(range(1, total));
    const stored = all.map((e) => e.metadata.eventId);
    expect(new Set(stored).size).toBe(total);
    expect(new Set(stored)).toEqual(new Set(submitted.flatMap((r) => r.events.map((e) => e.metadata.eventId))));
    for (const streamId of sharedStreams) {
      const read = await store.readStream(streamId);
      expect(read.events.map((e) => e.streamVersion)).toEqual(range(1, read.version));
    }
    const writerBatches = writers.reduce((sum, w) => sum + w.stats.batches, 0);
    expect(writerBatches).toBeLessThanOrEqual(submitted.length);
    await Promise.all(writerPools.map(endPool));
  });

  it("pool closed mid-stream: every acknowledged append is stored, the others got an error", async () => {
    const victimPool = newPool({ max: 2 });
    const store = new PostgresEventStore(victimPool, { maxBatchSize: 64 });
    const requests = range(1, 1000).map((i) => testAppendRequest(`order-${testUuid()}`, { key: `close-${i}` }));
    let ended: Promise<void> | undefined;
    const results = await Promise.allSettled(
      requests.map((request, i) =>
        store.append(request).then((outcome) => {
          if (i === 0) ended = victimPool.end();
          return outcome;
        }),
      ),
    );
    await ended;
    const acknowledged = results.flatMap((r, i) => (r.status === "fulfilled" ? [[requests[i], r.value] as const] : []));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(failed.length).toBeGreaterThan(0);
    for (const failure of failed) expect(failure.reason).toBeInstanceOf(UnavailableError);
    await expectAcknowledgedStored(acknowledged);
  });

  it("connections killed mid-batch: acknowledged appends are stored, and retrying the failed ones stores each exactly once", async () => {
    const victimPool = newPool({ max: 2, application_name: "orderly-victim" });
    const store = new PostgresEventStore(victimPool, { maxBatchSize: 16 });
    const killer = await startKilling("orderly-victim", 3);
    const requests: AppendRequest[] = [];
    const results: PromiseSettledResult<CommandOutcome>[] = [];
    // Bursts until some append has failed: how soon a kill lands depends on timing, the outcome must not.
    for (let round = 0; round < 50 && !results.some((r) => r.status === "rejected"); round++) {
      const burst = range(1, 200).map((i) => testAppendRequest(`order-${testUuid()}`, { key: `kill-${round}-${i}` }));
      requests.push(...burst);
      results.push(...(await Promise.allSettled(burst.map((request) => store.append(request)))));
    }
    await killer.stop();

    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(failed.length).toBeGreaterThan(0);
    for (const failure of failed) expect(failure.reason).toBeInstanceOf(UnavailableError);
    const acknowledged = results.flatMap((r, i) => (r.status === "fulfilled" ? [[requests[i], r.value] as const] : []));
    await expectAcknowledgedStored(acknowledged);
    // A failed append may or may not have committed: the same idempotency key settles it, exactly once.
    const retryStore = new PostgresEventStore(db.pool);
    const retried = await Promise.all(
      results.flatMap((r, i) => (r.status === "rejected" ? [retryStore.append(requests[i] as AppendRequest)] : [])),
    );
    expect(retried.length + acknowledged.length).toBe(requests.length);
    const all = await retryStore.readAll(0, 100_000);
    expect(all.map((e) => e.position)).toEqual(range(1, requests.length));
    expect(new Set(all.map((e) => e.metadata.commandId)).size).toBe(requests.length);
  });
});

describe("PostgresEventStore query plans", () => {
  // Nothing guarantees that the tables are ever analyzed (CI's Postgres runs with autovacuum off), and plpgsql keeps
  // the plans it made on a session's first call. Plans made while the tables were empty once froze a hash join over
  // a sequential scan of processed_commands: every append read the whole table, and appends slowed down as the log
  // grew (p50 12 → 49 ms at 1,500 commands/s within 80,000 commands). Appends must stay index look-ups whatever the
  // statistics say.
  it("appends stay index look-ups after the tables grew under plans made while they were empty", async () => {
    await db.pool.query(
      "alter table events set (autovacuum_enabled = off); alter table processed_commands set (autovacuum_enabled = off)",
    );
    const notices: string[] = [];
    const sessionPool = newPool({ max: 1 });
    sessionPool.on("connect", (client) => client.on("notice", (notice) => notices.push(notice.message ?? "")));
    const store = new PostgresEventStore(sessionPool);
    // The session's first appends run on empty tables: this is when plpgsql plans them.
    for (let i = 0; i < 3; i++) await store.append(testAppendRequest(`order-${testUuid()}`, { key: `early-${i}` }));

    const rows = 20_000;
    await db.pool.query(
      `insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id, correlation_id,
                           causation_id, occurred_at)
       select 3 + g, gen_random_uuid(), 'order-' || gen_random_uuid(), 1, 'ThingHappened', '{}', gen_random_uuid(),
              gen_random_uuid(), gen_random_uuid(), now()
         from generate_series(1, $1::int) g`,
      [rows],
    );
    await db.pool.query(
      `insert into processed_commands (idempotency_key, request_hash, command_id, stream_id, stream_version, position)
       select 'bulk-' || g, '\\x00', gen_random_uuid(), 'order-' || g, 1, 3 + g from generate_series(1, $1::int) g`,
      [rows],
    );
    await db.pool.query("update global_position set last = $1", [rows + 3]);

    // auto_explain reports, as notices, the plan each statement inside orderly_append runs with.
    await sessionPool.query(
      `load 'auto_explain'; set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on;
       set auto_explain.log_level = notice`,
    );
    const outcome = await store.append(testAppendRequest(`order-${testUuid()}`, { key: "late" }));
    expect(outcome.position).toBe(rows + 4);
    const plans = notices.join("\n");
    expect(plans).toMatch(/processed_commands_pkey/);
    expect(plans).toMatch(/events_stream_id_stream_version_key/);
    expect(plans).not.toMatch(/Seq Scan on (events|processed_commands)/);
    expect(plans).not.toMatch(/Hash Join/);
  });
});
