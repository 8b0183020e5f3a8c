import type { PostgresEventLog, PostgresEventStore } from "@orderly/event-store-postgres";
import { createRedisClient, isRedisCluster } from "@orderly/observability";
import { Projector, rebuildProjection } from "@orderly/projector";
import {
  createTestEnvironment,
  eventually,
  type RedisCluster,
  startRedisCluster,
  type TestEnvironment,
} from "@orderly/testing";
import type { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { RedisCheckpointReader, RedisCustomerOrdersReader } from "./customer-orders-readers.js";
import { CustomerOrdersRebuild } from "./customer-orders-rebuild.js";
import { canonicalSummary, type OrderSummaryView } from "./order-summary.js";
import { readCustomerOrdersMark, readCustomerOrdersSnapshot, setCustomerOrdersCheckpoint } from "./snapshots.js";
import { listAllPages, openReadModelStore } from "./test-store.js";
import { appendHistories, generateOrderHistories } from "./testing.js";
import { foldEventLog } from "./verification.js";

// customer_orders on a Redis Cluster of three masters of the test's own (redis-server --cluster-enabled yes ×3,
// redis-cli --cluster create): every script touches one namespace's keys, which share the `{<namespace>}` hash tag
// and so one slot. The event store is on the shared Postgres.

let env: TestEnvironment;
let cluster: RedisCluster;
let client: Redis;
let pool: pg.Pool;
let store: PostgresEventStore;
let eventLog: PostgresEventLog;
const projectors: Projector[] = [];

// The client is made as the services make it (@orderly/observability's createRedisClient, REDIS_URL listing the
// nodes): an ioredis `Cluster` typed as the `Redis` the projection and readers take.

beforeAll(async () => {
  env = await createTestEnvironment();
  cluster = await startRedisCluster({ masters: 3 });
  client = createRedisClient(cluster.url, { cluster: true }, { enableAutoPipelining: false });
  expect(isRedisCluster(client)).toBe(true);
  ({ pool, store, eventLog } = await openReadModelStore(env.databaseUrl));
  await appendHistories(store, generateOrderHistories(2000, 11));
}, 120_000);

afterAll(async () => {
  for (const p of projectors) await p.stop();
  client?.disconnect();
  await store?.close();
  await pool?.end();
  await cluster?.close();
  await env?.cleanup();
});

async function expectEqualToFold(): Promise<void> {
  const head = await store.headPosition();
  const expected = await foldEventLog(store, head);
  const reader = new RedisCustomerOrdersReader(client, env.namespace);
  const byCustomer = new Map<string, OrderSummaryView[]>();
  for (const s of expected.values()) byCustomer.set(s.customerId, [...(byCustomer.get(s.customerId) ?? []), s]);
  expect(byCustomer.size).toBeGreaterThan(10);
  for (const [customerId, orders] of byCustomer) {
    const listed = await listAllPages(reader, customerId, 5);
    const want = [...orders].sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.placedPosition - a.placedPosition,
    );
    expect(listed.map(canonicalSummary)).toEqual(want.map(canonicalSummary));
  }
}

describe("customer_orders on a 3-master Redis Cluster", () => {
  it("every key of a namespace hashes to one slot (the `{<namespace>}` tag)", async () => {
    const keys = customerOrdersKeys(env.namespace);
    const g = keys.generation("1");
    const slots = new Set<number>();
    for (const key of [keys.current, keys.swapLock, `${g}:checkpoint`, `${g}:o:x`, `${g}:c:y`, `${g}:customers`]) {
      slots.add(Number(await client.cluster("KEYSLOT", key)));
    }
    expect(slots.size).toBe(1);
    // ...and namespaces spread over the masters.
    const spread = new Set<number>();
    for (let i = 0; i < 50; i++)
      spread.add(Number(await client.cluster("KEYSLOT", customerOrdersKeys(`ns${i}`).current)));
    expect(spread.size).toBeGreaterThan(40);
  });

  it("the live projection's read model equals a fold of the store", async () => {
    const projector = new Projector({
      projection: new CustomerOrdersProjection(client, { namespace: env.namespace, pool }),
      eventLog,
      tickMs: 50,
      poisonRetryMs: 200,
      retryBaseMs: 5,
      maxAttempts: 3,
    });
    projectors.push(projector);
    void projector.start();
    const head = await store.headPosition();
    const checkpoint = new RedisCheckpointReader(client, env.namespace);
    await eventually(async () => (await checkpoint.checkpoint()) === head, `customer_orders at ${head}`, 60_000);
    await expectEqualToFold();
    await projector.stop();
  }, 120_000);

  it("a rebuild into a new generation flips the pointer and still equals the fold", async () => {
    const before = await client.get(customerOrdersKeys(env.namespace).current);
    const result = await rebuildProjection(new CustomerOrdersRebuild(client, env.namespace, eventLog), eventLog, {
      batchSize: 1000,
    });
    expect(result.verification?.checksum).toBe(result.verification?.expectedChecksum);
    const after = await client.get(customerOrdersKeys(env.namespace).current);
    expect(after).not.toBe(before);
    await expectEqualToFold();
  }, 120_000);

  it("the operator's snapshot and the checkpoint's compare-and-set (WATCH, MULTI/EXEC) work on the cluster", async () => {
    const mark = await readCustomerOrdersMark(client, env.namespace);
    expect(mark.position).toBe(await store.headPosition());
    const snapshot = await readCustomerOrdersSnapshot(client, env.namespace);
    expect(snapshot.mark.position).toBe(mark.position);
    expect(snapshot.summaries.size).toBe((await foldEventLog(store, mark.position)).size);
    // A stale expectation changes nothing; the right one moves the checkpoint (and its mark) atomically.
    const moved = { position: mark.position + 5, eventId: "e-cas", storeId: mark.storeId };
    expect(await setCustomerOrdersCheckpoint(client, pool, env.namespace, moved, mark.position - 1)).toBe(false);
    expect((await readCustomerOrdersMark(client, env.namespace)).position).toBe(mark.position);
    expect(await setCustomerOrdersCheckpoint(client, pool, env.namespace, moved, mark.position)).toBe(true);
    expect(await readCustomerOrdersMark(client, env.namespace)).toEqual(moved);
    expect(await setCustomerOrdersCheckpoint(client, pool, env.namespace, mark, moved.position)).toBe(true);
    expect((await readCustomerOrdersMark(client, env.namespace)).position).toBe(mark.position);
  }, 60_000);
});
