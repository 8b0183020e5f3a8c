import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ordersBus } from "@orderly/event-bus";
import {
  createPool,
  migrateEventStore,
  PostgresEventStore,
  PostgresRelayStore,
  StoreContinuity,
} from "@orderly/event-store-postgres";
import {
  createTestEnvironment,
  dumpDatabase,
  eventually,
  replaceDatabase,
  type TestEnvironment,
} from "@orderly/testing";
import type pg from "pg";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OutboxRelay } from "./relay.js";
import { appendOrders, readWholeStream } from "./testing.js";

// Restore-like scenarios, each made by the test in its own database and stream: the relay must notice that Postgres
// went back, stop publishing, say so once, and resume by itself once the store agrees with the stream again.

let env: TestEnvironment;
let nc: NatsConnection;
const opened: { pool: pg.Pool; store: PostgresEventStore }[] = [];
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
  nc = await connect({ servers: env.natsUrl });
});

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  await closeStores();
});

afterAll(async () => {
  await nc?.close();
  await env?.cleanup();
});

async function openStore(): Promise<{ pool: pg.Pool; store: PostgresEventStore }> {
  const pool = createPool(env.databaseUrl, { max: 4 });
  await migrateEventStore(pool);
  const opening = { pool, store: new PostgresEventStore(pool) };
  opened.push(opening);
  return opening;
}

async function closeStores(): Promise<void> {
  for (const { pool, store } of opened.splice(0)) {
    await store.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
}

interface Line {
  readonly level: string;
  readonly msg: string | undefined;
}

function startRelay(namespace: string) {
  const lines: Line[] = [];
  const log = (level: string) => (_obj: object, msg?: string) => lines.push({ level, msg });
  const registry = new Registry();
  // Its own pool: the tests replace the database under it, as an operator's restore does.
  const continuityPool = createPool(env.databaseUrl, { max: 1 });
  const relay = new OutboxRelay({
    store: new PostgresRelayStore(env.databaseUrl),
    natsUrl: env.natsUrl,
    bus: ordersBus(namespace),
    logger: { debug() {}, info: log("info"), warn: log("warn"), error: log("error") },
    registry,
    name: `relay-${namespace}`,
    pollIntervalMs: 250,
    continuity: new StoreContinuity(continuityPool),
    continuityRetryMs: 300,
  });
  relays.push(relay);
  const stop = relay.stop.bind(relay);
  relay.stop = async () => {
    await stop();
    if (!continuityPool.ended) await continuityPool.end();
  };
  relay.start();
  const gauge = async () => /^orderly_store_diverged (\d)$/m.exec(await registry.metrics())?.[1];
  const errors = () => lines.filter((l) => l.level === "error");
  return { relay, gauge, errors };
}

async function streamIds(stream: string): Promise<string[]> {
  return (await readWholeStream(nc, stream)).map((m) => m.msgId);
}

async function storeIds(store: PostgresEventStore): Promise<string[]> {
  return (await store.readAll(0, 100_000)).map((e) => e.metadata.eventId);
}

describe("outbox relay: the store went back", () => {
  it("stops publishing when Postgres is restored from a dump taken mid-run, and resumes once the store agrees", async () => {
    const namespace = `${env.namespace}_r`;
    const stream = ordersBus(namespace).stream;
    let { store } = await openStore();
    const { relay, gauge, errors } = startRelay(namespace);
    await appendOrders(store, 20, 2);
    await eventually(() => relay.ackedPosition === 20, "published 20", 30_000);
    const dump = await dumpDatabase(env.databaseUrl);
    await appendOrders(store, 20, 2);
    await eventually(() => relay.ackedPosition === 40, "published 40", 30_000);
    expect(await gauge()).toBe("0");
    expect(relay.ready).toBe(true);
    const published = await streamIds(stream);

    await closeStores();
    try {
      await replaceDatabase(env.databaseUrl, dump);
    } finally {
      await dump.remove();
    }
    const detectStarted = Date.now();
    await eventually(async () => (await gauge()) === "1", "orderly_store_diverged 1", 15_000);
    const detectedMs = Date.now() - detectStarted;
    expect(relay.ready).toBe(false);
    expect(errors()).toHaveLength(1);
    const line = errors()[0]?.msg ?? "";
    expect(line).toContain("position 40");
    expect(line).toContain(published[39]);
    expect(line).toContain("head is 20");
    expect(line).toContain("pnpm orderly recover");

    // New commands on the restored store take positions 21.. for other events: none of them is published, since the
    // stream holds the lost ones there.
    ({ store } = await openStore());
    await appendOrders(store, 25, 2);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await streamIds(stream)).toEqual(published);
    expect(errors()).toHaveLength(1);
    expect(relay.ready).toBe(false);

    // What a recovery's reset does to the bus: the stream replaced by an empty one (a purge would keep the message ids
    // of its duplicate window, and the store's own events 1..20 would be refused as duplicates), the checkpoint back
    // at the store's truth.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream);
    const { pool } = opened[0] as { pool: pg.Pool };
    await pool.query("update relay_checkpoints set position = 0, event_id = null");
    await eventually(async () => (await gauge()) === "0", "resumed", 15_000);
    await eventually(async () => (await streamIds(stream)).length === 45, "republished", 30_000);
    expect(await streamIds(stream)).toEqual(await storeIds(store));
    expect(relay.ready).toBe(true);
    expect(errors()).toHaveLength(1);
    console.info(`relay: divergence detected ${detectedMs} ms after the restore`);
  });

  it("stops when the store loses its tail under a running relay (caught by the read itself)", async () => {
    const namespace = `${env.namespace}_t`;
    const stream = ordersBus(namespace).stream;
    await replaceDatabase(env.databaseUrl);
    const { store, pool } = await openStore();
    const { relay, gauge, errors } = startRelay(namespace);
    await appendOrders(store, 30, 2);
    await eventually(() => relay.ackedPosition === 30, "published 30", 30_000);
    // The same database going back in place (no connection is cut): only the relay's next read can notice.
    await pool.query("delete from events where position > 12; update global_position set last = 12");
    await eventually(async () => (await gauge()) === "1", "orderly_store_diverged 1", 10_000);
    expect(errors()).toHaveLength(1);
    expect(errors()[0]?.msg).toMatch(/position 30 .*head is 12/);
    await appendOrders(store, 5, 1);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await streamIds(stream)).toHaveLength(30);
  });

  it("a fresh, empty database under the stream's namespace is behind the stream: nothing is published", async () => {
    const namespace = `${env.namespace}_f`;
    const stream = ordersBus(namespace).stream;
    await replaceDatabase(env.databaseUrl);
    let { store } = await openStore();
    const first = startRelay(namespace);
    await appendOrders(store, 10, 1);
    await eventually(() => first.relay.ackedPosition === 10, "published 10", 30_000);
    await first.relay.stop();
    await closeStores();
    await replaceDatabase(env.databaseUrl);
    ({ store } = await openStore());
    await appendOrders(store, 3, 1);
    const second = startRelay(namespace);
    await eventually(async () => (await second.gauge()) === "1", "orderly_store_diverged 1", 10_000);
    expect(second.errors()[0]?.msg).toMatch(/position 10 .*head is 3/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await streamIds(stream)).toHaveLength(10);
    expect(second.relay.ready).toBe(false);
  });
});
