// The store when Postgres fails under it: refused connections, terminated connections, statements past their timeout.
import { UnavailableError } from "@orderly/eventsourcing";
import { testAppendRequest, testUuid } from "@orderly/eventsourcing/testing";
import { eventually, freePort, startTcpProxy } from "@orderly/testing";
import { describe, expect, it } from "vitest";
import { createPool } from "./database.js";
import { PostgresEventStore } from "./postgres-event-store.js";
import { appendKeyed, range, storeTestDatabase } from "./store-test-database.js";

const db = storeTestDatabase();
const { newPool, rawClient, startKilling } = db;

describe("PostgresEventStore when Postgres fails", () => {
  it("every operation of a store whose Postgres is not listening fails with UnavailableError", async () => {
    const port = await freePort();
    const store = new PostgresEventStore(createPool(`postgres://root@127.0.0.1:${port}/orderly_nowhere`));
    const operations: [string, () => Promise<unknown>][] = [
      ["append", () => store.append(testAppendRequest(`order-${testUuid()}`))],
      ["readStream", () => store.readStream(`order-${testUuid()}`)],
      ["readAll", () => store.readAll(0, 10)],
      ["findCommand", () => store.findCommand("some-key")],
      ["headPosition", () => store.headPosition()],
    ];
    for (const [name, operation] of operations) {
      const error = await operation().then(
        () => new Error(`${name} succeeded`),
        (e: unknown) => e,
      );
      expect([name, error]).toEqual([name, expect.any(UnavailableError)]);
      expect((error as Error).message).toMatch(/event store unavailable: .*ECONNREFUSED/);
    }
  });

  it("reads whose connections are terminated fail with UnavailableError; the store reads again afterwards", async () => {
    const writer = new PostgresEventStore(db.pool);
    const streamId = `order-${testUuid()}`;
    await writer.append(
      testAppendRequest(streamId, { events: range(1, 500).map((n) => ({ type: "ThingHappened", data: { n } })) }),
    );
    await appendKeyed(writer, "terminated-read");
    await Promise.all(range(1, 1500).map(() => writer.append(testAppendRequest(`order-${testUuid()}`))));

    const victimPool = newPool({ max: 3, application_name: "orderly-read-victim" });
    const store = new PostgresEventStore(victimPool);
    const killer = await startKilling("orderly-read-victim", 2);
    const failures: { operation: string; reason: unknown }[] = [];
    try {
      // Rounds of every read until the two longer reads have each been cut off: when a kill lands depends on timing.
      const reads: Record<string, () => Promise<unknown>> = {
        readAll: () => store.readAll(0, 5000),
        readStream: () => store.readStream(streamId),
        findCommand: () => store.findCommand("terminated-read"),
        headPosition: () => store.headPosition(),
      };
      for (let round = 0; round < 300; round++) {
        const failed = new Set(failures.map((f) => f.operation));
        if (failed.has("readAll") && failed.has("readStream")) break;
        await Promise.all(
          Object.entries(reads).map(([operation, read]) =>
            read().catch((reason: unknown) => {
              failures.push({ operation, reason });
            }),
          ),
        );
      }
    } finally {
      await killer.stop();
    }
    expect(failures.map((f) => f.operation)).toEqual(expect.arrayContaining(["readAll", "readStream"]));
    for (const { operation, reason } of failures)
      expect([operation, reason]).toEqual([operation, expect.any(UnavailableError)]);
    expect((await store.readStream(streamId)).version).toBe(500);
    expect(await store.findCommand("terminated-read")).toMatchObject({ duplicate: true });
    expect((await store.readAll(0, 5000)).length).toBe(2001);
  });
});

describe("PostgresEventStore statement timeout", () => {
  it("an append blocked longer than statementTimeoutMs fails UNAVAILABLE, is cancelled in Postgres, and the writer goes on", async () => {
    const store = new PostgresEventStore(newPool({ max: 2, application_name: "orderly-timeout" }), {
      lockTimeoutMs: 60_000,
      statementTimeoutMs: 500,
    });
    const holder = await rawClient();
    try {
      await holder.query("begin");
      await holder.query("select last from global_position where id = 1 for update");
      const started = Date.now();
      const blocked = store.append(testAppendRequest(`order-${testUuid()}`, { key: "blocked" }));
      const queued = store.append(testAppendRequest(`order-${testUuid()}`, { key: "queued" }));
      const errors = await Promise.all(
        [blocked, queued].map((p) =>
          p.then(
            () => "appended",
            (e: unknown) => e,
          ),
        ),
      );
      const elapsed = Date.now() - started;
      for (const error of errors) expect(error).toBeInstanceOf(UnavailableError);
      expect((errors[0] as Error).message).toMatch(/Query read timeout|no connection within/);
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(5_000);
      // Cancelled in Postgres, not left waiting for the lock (it would commit the moment the holder lets go).
      await eventually(async () => {
        const waiting = await db.pool.query(
          "select count(*)::int as n from pg_stat_activity where application_name = 'orderly-timeout' and wait_event_type = 'Lock'",
        );
        return waiting.rows[0].n === 0;
      }, "the timed-out append to be cancelled");
      await holder.query("rollback");
      expect(await store.append(testAppendRequest(`order-${testUuid()}`))).toMatchObject({ position: 1 });
      expect(await store.findCommand("blocked")).toBeUndefined();
      expect((await store.readAll(0, 10)).length).toBe(1);
    } finally {
      await holder.end();
    }
  });

  it("a connection that goes silent (hung network) fails reads and appends within the timeout; the store recovers", async () => {
    const database = new URL(db.env.databaseUrl);
    const proxy = await startTcpProxy({ host: database.hostname, port: Number(database.port || 5432) });
    try {
      const store = new PostgresEventStore(newPool({ max: 2 }, proxy.url(db.env.databaseUrl)), {
        statementTimeoutMs: 400,
      });
      const streamId = `order-${testUuid()}`;
      await store.append(testAppendRequest(streamId));
      proxy.freeze();
      for (const [name, operation] of [
        ["readStream", () => store.readStream(streamId)],
        ["append", () => store.append(testAppendRequest(`order-${testUuid()}`))],
        ["headPosition", () => store.headPosition()],
      ] as const) {
        const started = Date.now();
        const error = await (operation as () => Promise<unknown>)().then(
          () => new Error(`${name} succeeded`),
          (e: unknown) => e,
        );
        expect([name, error]).toEqual([name, expect.any(UnavailableError)]);
        expect(Date.now() - started).toBeLessThan(3_000);
      }
      await proxy.up();
      await eventually(
        () => store.readStream(streamId).then((read) => read.version === 1),
        "reads through the proxy again",
      );
      expect(await store.append(testAppendRequest(streamId, { expectedVersion: 1 }))).toMatchObject({
        streamVersion: 2,
      });
    } finally {
      await proxy.close();
    }
  });
});
