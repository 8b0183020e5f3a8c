import { randomUUID } from "node:crypto";
import type { AppendRequest } from "@orderly/eventsourcing";
import { IdempotencyKeyReusedError, VersionConflictError } from "@orderly/eventsourcing";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, ensureDatabase } from "./database.js";
import { migrateEventStore } from "./migrations.js";
import { PostgresEventStore } from "./postgres-event-store.js";

let env: TestEnvironment;
let pool: pg.Pool;
let store: PostgresEventStore;

beforeAll(async () => {
  env = await createTestEnvironment();
  await ensureDatabase(env.databaseUrl);
  pool = createPool(env.databaseUrl);
  await migrateEventStore(pool);
  store = new PostgresEventStore(pool);
});

afterAll(async () => {
  await store?.close();
  await pool?.end();
  await env?.cleanup();
});

function request(
  streamId: string,
  expectedVersion: AppendRequest["expectedVersion"],
  key?: string,
  hash = "a".repeat(64),
): AppendRequest {
  const commandId = randomUUID();
  return {
    streamId,
    expectedVersion,
    events: [
      {
        event: { type: "Thing", data: { n: 1 } },
        metadata: {
          eventId: randomUUID(),
          commandId,
          correlationId: commandId,
          causationId: commandId,
          occurredAt: new Date(),
        },
      },
    ],
    idempotency: key === undefined ? undefined : { key, requestHash: hash },
  };
}

describe("PostgresEventStore smoke", () => {
  it("appends, reads and deduplicates", async () => {
    const a = await store.append(request("order-1", "no_stream", "k1"));
    expect(a).toMatchObject({ streamVersion: 1, position: 1, duplicate: false });
    const dup = await store.append(request("order-1", "no_stream", "k1"));
    expect(dup).toMatchObject({ streamVersion: 1, position: 1, duplicate: true, commandId: a.commandId });
    await expect(store.append(request("order-1", "no_stream", "k1", "b".repeat(64)))).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    );
    await expect(store.append(request("order-1", "no_stream"))).rejects.toBeInstanceOf(VersionConflictError);
    const results = await Promise.allSettled([
      store.append(request("order-1", 1)),
      store.append(request("order-1", 1)),
      store.append(request("order-2", "any")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((await store.readStream("order-1")).version).toBe(2);
    expect((await store.readAll(0, 10)).map((e) => e.position)).toEqual([1, 2, 3]);
    expect(await store.headPosition()).toBe(3);
    expect(await store.findCommand("k1")).toMatchObject({ position: 1, requestHash: "a".repeat(64) });
    expect(await migrateEventStore(pool)).toEqual([]);
  });
});
