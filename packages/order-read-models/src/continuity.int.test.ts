import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import {
  decodeEnvelope,
  encodeEnvelope,
  ensureOrdersStream,
  headers,
  streamName,
  subjectFor,
} from "@orderly/event-bus";
import { type PostgresEventLog, StoreContinuity, StoreRecovery } from "@orderly/event-store-postgres";
import type { RecordedEvent } from "@orderly/eventsourcing";
import type { OrderEvent } from "@orderly/orders-domain";
import { type Logger, type Projection, Projector } from "@orderly/projector";
import {
  createTestEnvironment,
  type DatabaseDump,
  dumpDatabase,
  eventually,
  replaceDatabase,
  type TestEnvironment,
} from "@orderly/testing";
import { Redis } from "ioredis";
import type pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CustomerOrdersProjection } from "./customer-orders.js";
import { dropCustomerOrders } from "./customer-orders-drop.js";
import { RedisCheckpointReader } from "./customer-orders-readers.js";
import { OrderSummariesProjection } from "./order-summaries.js";
import { openReadModelStore } from "./test-store.js";
import { appendHistories, generateOrderHistories } from "./testing.js";

// Restore-like scenarios made in the test's own database and namespace: a projector must notice that the event store
// went back behind what it (or the stream feeding it) saw, apply nothing, report it (not ready, orderly_store_diverged
// 1, one error line naming `pnpm orderly recover`), and never skip.

let env: TestEnvironment;
let redis: Redis;
let nc: NatsConnection;
const pools: pg.Pool[] = [];
const projectors: Projector[] = [];

beforeAll(async () => {
  env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  redis = new Redis(env.redisUrl);
  nc = await connect({ servers: env.natsUrl });
});

afterEach(async () => {
  for (const p of projectors.splice(0)) await p.stop();
  for (const pool of pools.splice(0)) await pool.end().catch(() => undefined);
});

afterAll(async () => {
  redis?.disconnect();
  await nc?.close();
  await env?.cleanup();
});

async function openStore() {
  const opened = await openReadModelStore(env.databaseUrl, { max: 6 });
  pools.push(opened.pool);
  return opened;
}

function project(
  projection: Projection,
  pool: pg.Pool,
  eventLog: PostgresEventLog,
  bus?: { namespace: string; jsm: JetStreamManager },
) {
  const errors: string[] = [];
  const logger: Logger = { info() {}, warn() {}, error: (_o, msg) => errors.push(msg ?? "") };
  const projector = new Projector({
    projection,
    eventLog,
    logger,
    tickMs: 100,
    continuity: new StoreContinuity(pool),
    continuityRetryMs: 300,
    ...(bus
      ? {
          source: {
            js: jetstream(nc),
            jsm: bus.jsm,
            stream: streamName(bus.namespace),
            consumer: `${bus.namespace}_${projection.name}`,
            decode: (data: Uint8Array, h?: { get(name: string): string }) => decodeEnvelope(data, h),
          },
        }
      : {}),
  });
  projectors.push(projector);
  const gauge = async () => /^orderly_store_diverged (\d)$/m.exec(await projector.registry.metrics())?.[1];
  return { projector, errors, gauge };
}

/** The relay's job in miniature: the store's events after `after` onto the namespace's stream. */
async function publish(eventLog: PostgresEventLog, namespace: string, after: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await ensureOrdersStream(jsm, namespace);
  const js = jetstream(nc);
  for (const event of await eventLog.readAll(after, 100_000)) {
    const h = natsHeaders();
    h.set(headers.position, String(event.position));
    h.set(headers.committedAt, String(event.committedAt.getTime()));
    await js.publish(subjectFor(namespace, event.type), encodeEnvelope(event as RecordedEvent<OrderEvent>), {
      msgID: event.metadata.eventId,
      headers: h,
    });
  }
}

/** Ends the pools, puts `dump` back in place of the database (and removes the dump), and opens the store again. */
async function restoreStore(dump: DatabaseDump) {
  for (const p of pools.splice(0)) await p.end();
  try {
    await replaceDatabase(env.databaseUrl, dump);
  } finally {
    await dump.remove();
  }
  return openStore();
}

/**
 * order_summaries projected from the stream of `namespace` up to `before` (the histories of `seeds[0]`); a backup
 * then; the store and the stream move on to `head` (those of `seeds[1]`) while the projector is stopped; the backup is
 * restored. Returns the reopened store.
 */
async function streamAheadOfRestoredStore(namespace: string, seeds: readonly [number, number]) {
  await replaceDatabase(env.databaseUrl);
  const opened = await openStore();
  const before = await appendHistories(opened.store, generateOrderHistories(24, seeds[0]));
  await publish(opened.eventLog, namespace, 0);
  const jsm = await jetstreamManager(nc);
  const first = project(new OrderSummariesProjection(opened.pool), opened.pool, opened.eventLog, { namespace, jsm });
  await first.projector.start();
  await eventually(async () => first.projector.status().checkpoint === before, `order_summaries at ${before}`, 30_000);
  await first.projector.stop();
  projectors.length = 0;

  // A backup now; then the stream moves on (the projector is not running, so those messages wait for it).
  const dump = await dumpDatabase(env.databaseUrl);
  const head = await appendHistories(opened.store, generateOrderHistories(24, seeds[1]));
  await publish(opened.eventLog, namespace, before);
  return { before, head, jsm, ...(await restoreStore(dump)) };
}

describe("projectors: the store went back", () => {
  it("projector-redis: a Redis checkpoint ahead of a restored store stops it instead of skipping what comes", async () => {
    let { pool, store, eventLog } = await openStore();
    const before = await appendHistories(store, generateOrderHistories(24, 1));
    const dump = await dumpDatabase(env.databaseUrl);
    const head = await appendHistories(store, generateOrderHistories(24, 2));
    const first = project(new CustomerOrdersProjection(redis, { namespace: env.namespace, pool }), pool, eventLog);
    await first.projector.start();
    const checkpoint = new RedisCheckpointReader(redis, env.namespace);
    await eventually(async () => (await checkpoint.checkpoint()) === head, `Redis at ${head}`, 30_000);
    expect(await first.gauge()).toBe("0");
    await first.projector.stop();
    projectors.length = 0;
    ({ pool, store, eventLog } = await restoreStore(dump));
    expect(await store.headPosition()).toBe(before);
    // New commands after the restore take the lost positions for other events.
    const newHead = await appendHistories(store, generateOrderHistories(24, 3));
    expect(newHead).toBeGreaterThan(before);

    const second = project(new CustomerOrdersProjection(redis, { namespace: env.namespace, pool }), pool, eventLog);
    const started = Date.now();
    await second.projector.start();
    await eventually(async () => (await second.gauge()) === "1", "orderly_store_diverged 1", 10_000);
    const detectedMs = Date.now() - started;
    expect(second.projector.ready()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await checkpoint.checkpoint()).toBe(head); // nothing applied, nothing skipped
    expect(second.errors).toHaveLength(1);
    expect(second.errors[0]).toContain(`position ${head}`);
    expect(second.errors[0]).toContain("pnpm orderly recover");
    console.info(`projector-redis: divergence detected ${detectedMs} ms after its start`);
  });

  it("projector-postgres: a stream ahead of the restored store is not applied", async () => {
    const namespace = `${env.namespace}_p`;
    const { before, head, jsm, pool, eventLog } = await streamAheadOfRestoredStore(namespace, [4, 5]);

    const second = project(new OrderSummariesProjection(pool), pool, eventLog, { namespace, jsm });
    await second.projector.start();
    await eventually(async () => (await second.gauge()) === "1", "orderly_store_diverged 1", 10_000);
    expect(second.projector.ready()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const { rows } = await pool.query<{ position: string }>(
      "select position::text from projection_checkpoints where name = 'order_summaries'",
    );
    expect(rows[0]?.position).toBe(String(before)); // the phantoms after it were not applied
    expect(second.errors).toHaveLength(1);
    expect(second.errors[0]).toMatch(new RegExp(`stream.*position \\d+.*head is ${before}`));
    expect(second.errors[0]).toContain("pnpm orderly recover");
    expect(head).toBeGreaterThan(before);
  });

  it("projector-postgres: the old stream's events at positions a recovery retired are never applied; it goes on once the stream is recreated", async () => {
    const namespace = `${env.namespace}_r`;
    // Backup; the stream moves on; the store goes back; recovery retires what downstream saw past the store, while the
    // old stream still holds those events (between recover's retirement and its recreation of the stream) and the
    // read model's checkpoint is still on the store's last event.
    const { before, head, jsm, pool, store, eventLog } = await streamAheadOfRestoredStore(namespace, [6, 7]);
    expect(await new StoreRecovery(pool).retire(head, "test")).toEqual({ first: before + 1, last: head });

    const second = project(new OrderSummariesProjection(pool), pool, eventLog, { namespace, jsm });
    await second.projector.start();
    await eventually(async () => (await second.gauge()) === "1", "orderly_store_diverged 1", 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const checkpoint = async () =>
      Number(
        (await pool.query("select position from projection_checkpoints where name = 'order_summaries'")).rows[0]
          ?.position,
      );
    // Before: the old events passed the check (retired, not in the store) and were applied as phantom rows.
    expect(await checkpoint()).toBe(before);
    expect(second.errors[0]).toMatch(/retired/);

    // Recovery recreates the stream from the store; new commands get positions past the retired range.
    await jsm.streams.delete(streamName(namespace));
    const newHead = await appendHistories(store, generateOrderHistories(24, 8));
    expect(newHead).toBeGreaterThan(head);
    await publish(eventLog, namespace, 0);
    await eventually(async () => (await checkpoint()) === newHead, `order_summaries at ${newHead}`, 30_000);
    expect(second.projector.ready()).toBe(true);
    expect(await second.gauge()).toBe("0");
    // Every row is the store's: as many orders as the store's events name, none from the lost timeline.
    const { rows } = await pool.query<{ rows: number; orders: number }>(
      `select (select count(*)::int from order_summaries) as rows,
              (select count(distinct stream_id)::int from events) as orders`,
    );
    expect(rows[0]?.rows).toBe(rows[0]?.orders);
    await jsm.streams.delete(streamName(namespace)).catch(() => undefined);
  });
});
