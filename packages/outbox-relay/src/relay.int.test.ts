import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { decodeEnvelope, encodeEnvelope, ordersBus } from "@orderly/event-bus";
import { createPool, migrateEventStore, PostgresEventStore, PostgresRelayStore } from "@orderly/event-store-postgres";
import { testMetadata } from "@orderly/eventsourcing/testing";
import { createTestEnvironment, eventually, freePort, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OutboxRelay, type OutboxRelayOptions } from "./relay.js";
import {
  appendOrders,
  checkGaplessOrder,
  orderPlacedRequest,
  readWholeStream,
  type StoredMessage,
  silentLogger,
  startNatsServer,
} from "./testing.js";

let env: TestEnvironment;
let pool: pg.Pool;
let store: PostgresEventStore;
let nc: NatsConnection;
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
  pool = createPool(env.databaseUrl, { max: 20 });
  await migrateEventStore(pool);
  store = new PostgresEventStore(pool);
  nc = await connect({ servers: env.natsUrl });
});

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
});

afterAll(async () => {
  await nc?.close();
  await pool?.end();
  await env?.cleanup();
});

/** Sets checkpoint `name` to the current head, so a new relay publishes only what comes next. Returns that head. */
async function startingAtHead(name: string): Promise<number> {
  const head = await store.headPosition();
  await pool.query("insert into relay_checkpoints (name, position) values ($1, $2)", [name, head]);
  return head;
}

/** Each test gets its own namespace (stream) and checkpoint name, on the file's database. */
function startRelay(overrides: Partial<OutboxRelayOptions> & { namespace: string }): OutboxRelay {
  const relay = new OutboxRelay({
    store: new PostgresRelayStore(env.databaseUrl),
    natsUrl: env.natsUrl,
    bus: ordersBus(overrides.namespace),
    logger: process.env.RELAY_TEST_LOG ? consoleLogger(overrides.name ?? overrides.namespace) : silentLogger,
    name: `relay-${overrides.namespace}`,
    pollIntervalMs: 250,
    ...overrides,
  });
  relays.push(relay);
  relay.start();
  return relay;
}

const headPosition = () => store.headPosition();

/**
 * A test's own stream (`<namespace>_<suffix>`) and checkpoint (`relay-<suffix>`), the checkpoint at the current head:
 * `from` is the first position its relay publishes.
 */
async function ownRelay(suffix: string): Promise<{ namespace: string; name: string; from: number }> {
  const name = `relay-${suffix}`;
  return { namespace: `${env.namespace}_${suffix}`, name, from: (await startingAtHead(name)) + 1 };
}

/** Appends `count` orders from `writers` writers and waits until `relay` acked them; returns the head. */
async function appendAndCatchUp(relay: OutboxRelay, count: number, writers: number, what: string): Promise<number> {
  await appendOrders(store, count, writers);
  const head = await headPosition();
  await eventually(() => relay.ackedPosition === head, what);
  return head;
}

const consoleLogger = (name: string) => {
  const log = (level: string) => (obj: object, msg?: string) =>
    console.log(
      new Date().toISOString(),
      name,
      level,
      msg,
      JSON.stringify(obj, (_k, v) => (v instanceof Error ? v.message : v)),
    );
  return { debug: () => {}, info: log("info"), warn: log("warn"), error: log("error") };
};

describe("OutboxRelay (real Postgres and NATS)", () => {
  it("publishes 10,000 events from 16 concurrent writers in strictly increasing position order, each once", async () => {
    const namespace = `${env.namespace}_a`;
    const before = await headPosition();
    const relay = startRelay({ namespace, name: "relay-a" });
    await appendOrders(store, 10_000, 16);
    const head = await headPosition();
    await eventually(() => relay.ackedPosition === head, "relay caught up", 60_000);
    const messages = await readWholeStream(nc, ordersBus(namespace).stream);
    // A fresh checkpoint name starts at 0: the stream holds the whole log, positions 1..head.
    checkGaplessOrder(messages, head);
    expect(head - before).toBe(10_000);
    expect(new Set(messages.map((m) => m.msgId)).size).toBe(head);
    // The envelope is the stored event, field for field.
    const stored = await store.readAll(head - 100, 100);
    expect(stored.some((e) => e.metadata.actor === "svc-checkout")).toBe(true);
    for (const event of stored) {
      const message = messages[event.position - 1];
      expect(message?.msgId).toBe(event.metadata.eventId);
      expect(message?.subject).toBe(`${namespace}.orders.OrderPlaced`);
      expect(message?.headers.get("Orderly-Stream")).toBe(event.streamId);
      expect(message?.headers.get("traceparent")).toBe(event.metadata.traceparent);
      expect(decodeEnvelope(message?.data as Uint8Array, message?.headers)).toEqual(event);
    }
    // The durable checkpoint catches up once the relay is idle.
    const checkpoint = async () =>
      Number((await pool.query("select position from relay_checkpoints where name = 'relay-a'")).rows[0].position);
    await eventually(async () => (await checkpoint()) === head, "checkpoint at the head");
  });

  it("publishes nothing past a transaction that holds its position until it commits, then it in its place", async () => {
    const { namespace, name, from } = await ownRelay("b");
    const relay = startRelay({ namespace, name });
    const before = await appendAndCatchUp(relay, 5, 2, "relay caught up");

    // A slow transaction takes the next position and holds the position row lock without committing.
    const slow = await pool.connect();
    let slowPosition = 0;
    let later: Promise<unknown> | undefined;
    try {
      await slow.query("begin");
      const taken = await slow.query("update global_position set last = last + 1 returning last");
      slowPosition = Number(taken.rows[0].last);
      const request = orderPlacedRequest();
      const m = request.events[0]?.metadata;
      await slow.query(
        `insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id,
           correlation_id, causation_id, traceparent, occurred_at)
         values ($1, $2, $3, 1, 'OrderPlaced', $4, $5, $5, $5, null, now())`,
        [slowPosition, m?.eventId, request.streamId, JSON.stringify(request.events[0]?.event.data), m?.commandId],
      );
      // Later appends queue behind it; the relay must not publish anything while the slow one is open.
      later = appendOrders(store, 20, 4);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(relay.ackedPosition).toBe(before);
      await slow.query("select pg_notify('orderly_events', $1)", [String(slowPosition)]);
      await slow.query("commit");
    } finally {
      slow.release();
    }
    await later;
    const head = await headPosition();
    await eventually(() => relay.ackedPosition === head, "relay published the late commit and those after it");
    const messages = await readWholeStream(nc, ordersBus(namespace).stream);
    checkGaplessOrder(messages, head, from);
    expect(slowPosition).toBe(before + 1);
    expect(messages[slowPosition - from]?.msgId).toBeTruthy();
    expect(messages[slowPosition - from]?.position).toBe(slowPosition);
  });

  it("runs one active relay; the standby takes over from the checkpoint when the first stops", async () => {
    const { namespace, name, from } = await ownRelay("c");
    const shared = { namespace, name, lockRetryMs: 100 };
    const first = startRelay(shared);
    await eventually(() => first.role === "active", "first relay active");
    const second = startRelay(shared);
    await eventually(() => second.role === "standby", "second relay standing by");
    const burst = appendOrders(store, 3_000, 32);
    await eventually(() => first.ackedPosition > from + 100, "first relay publishing");
    expect(second.role).toBe("standby");
    expect(second.ackedPosition).toBe(0);
    await first.stop();
    await eventually(() => second.role === "active", "second relay took over");
    await burst;
    const head = await headPosition();
    await eventually(() => second.ackedPosition === head, "second relay caught up", 60_000);
    checkGaplessOrder(await readWholeStream(nc, ordersBus(namespace).stream), head, from);
  });

  it("resumes after the stream's last message even when the checkpoint lags (no republish beyond dedup)", async () => {
    const { namespace, name, from } = await ownRelay("d");
    const first = startRelay({ namespace, name });
    await appendAndCatchUp(first, 500, 4, "caught up");
    await first.stop();
    // Simulate a crash between publish and checkpoint: the checkpoint is far behind what the stream holds.
    await pool.query("update relay_checkpoints set position = $1 where name = 'relay-d'", [from + 10]);
    await appendOrders(store, 50, 2);
    const registry = new Registry();
    const second = startRelay({ namespace, name, registry });
    const newHead = await headPosition();
    await eventually(() => second.ackedPosition === newHead, "second caught up");
    checkGaplessOrder(await readWholeStream(nc, ordersBus(namespace).stream), newHead, from);
    // It published only the 50 new events: it resumed after the stream's last message, not at the checkpoint.
    expect(await registry.metrics()).toContain("outbox_relay_events_published_total 50\n");
  });

  it("drains a backlog with the next batch read ahead, for any batch size and window, in order and once", async () => {
    const from = (await headPosition()) + 1;
    await appendOrders(store, 2_500, 16);
    const head = await headPosition();
    const configs = [
      { batchSize: 100, maxInFlight: 350 },
      { batchSize: 500, maxInFlight: 200 },
      { batchSize: 1000, maxInFlight: 4096 },
    ];
    for (const [i, config] of configs.entries()) {
      const name = `relay-f${i}`;
      await pool.query("insert into relay_checkpoints (name, position) values ($1, $2)", [name, from - 1]);
      const relay = startRelay({ namespace: `${env.namespace}_f${i}`, name, ...config });
      await eventually(() => relay.ackedPosition === head, `caught up with ${JSON.stringify(config)}`, 60_000);
      await relay.stop();
      checkGaplessOrder(await readWholeStream(nc, ordersBus(`${env.namespace}_f${i}`).stream), head, from);
    }
  });

  it("publishes every event type byte for byte as encodeEnvelope writes the event the store reads", async () => {
    const { namespace, name, from } = await ownRelay("t");
    const orderId = randomUUID();
    const streamId = `order-${orderId}`;
    // Every order event type (the relay itself knows none of them: @orderly/orders-domain is not its dependency).
    const samples: Record<string, unknown> = {
      OrderPlaced: {
        orderId,
        customerId: "customer-ü-😀",
        currency: "EUR",
        items: [
          { sku: "SKU-1", quantity: 3, unitPriceMinor: 1250 },
          { sku: "x".repeat(200), quantity: 1, unitPriceMinor: Number.MAX_SAFE_INTEGER - 3750 },
        ],
        totalMinor: Number.MAX_SAFE_INTEGER,
      },
      PaymentAuthorized: { amountMinor: 3750, paymentReference: "auth-1" },
      PaymentReceived: { amountMinor: 3750, paymentReference: "pay-1" },
      PaymentFailed: { amountMinor: 0, paymentReference: "" },
      PaymentRefunded: { amountMinor: -5, paymentReference: "é".repeat(100) },
      OrderShipped: { carrier: "DHL", trackingNumber: "00340434161094042557" },
      OrderCancelled: { reason: "" },
    };
    const types = Object.keys(samples);
    for (const [version, type] of types.entries()) {
      const commandId = randomUUID();
      await store.append({
        streamId,
        expectedVersion: version === 0 ? "no_stream" : version,
        events: [
          {
            event: { type, data: samples[type] },
            metadata: testMetadata(
              commandId,
              version % 2 === 0 ? { traceparent: `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01` } : {},
            ),
          },
        ],
      });
    }
    const head = await headPosition();
    // Times Postgres holds with microseconds, before the epoch and at it: the store's pg reads them into Dates.
    const times = ["1969-12-31 23:59:59.9995+00", "2026-11-26 06:00:00.123999+00", "1970-01-01 00:00:00+00"];
    for (const [i, time] of times.entries()) {
      await pool.query("update events set occurred_at = $1, committed_at = $1 where position = $2", [time, from + i]);
    }
    const relay = startRelay({ namespace, name });
    await eventually(() => relay.ackedPosition === head, "relay caught up");
    const messages = await readWholeStream(nc, ordersBus(namespace).stream);
    const stored = await store.readAll(from - 1, head - from + 1);
    expect(stored.map((e) => e.type)).toEqual(types);
    expect(messages).toHaveLength(stored.length);
    for (const [i, event] of stored.entries()) {
      const message = messages[i] as StoredMessage;
      expect(Buffer.from(message.data).toString("hex")).toBe(
        Buffer.from(encodeEnvelope(event as Parameters<typeof encodeEnvelope>[0])).toString("hex"),
      );
      expect(message.headers.get("Orderly-Committed-At")).toBe(String(event.committedAt.getTime()));
      expect(message.headers.get("traceparent")).toBe(event.metadata.traceparent ?? "");
    }
    expect(stored[0]?.metadata.occurredAt.getTime()).toBe(-1);
  });

  it("relays every event the store holds, also of a type this release does not know (transport only)", async () => {
    const { namespace, name, from } = await ownRelay("u");
    const orderId = randomUUID();
    // As a newer release would write it: a known event, a type this release does not know, a known one after it.
    const events = [
      { type: "OrderPlaced", data: { orderId, customerId: "c", currency: "EUR", items: [], totalMinor: 0 } },
      { type: "OrderGiftWrapped", data: { paper: "gold" } },
      { type: "OrderCancelled", data: { reason: "r" } },
    ];
    for (const [version, event] of events.entries()) {
      await store.append({
        streamId: `order-${orderId}`,
        expectedVersion: version === 0 ? "no_stream" : version,
        events: [{ event, metadata: testMetadata() }],
      });
    }
    const head = await headPosition();
    const relay = startRelay({ namespace, name });
    await eventually(() => relay.ackedPosition === head, "relay past the unknown type", 15_000);
    const messages = await readWholeStream(nc, ordersBus(namespace).stream);
    expect(messages.map((m) => m.headers.get("Orderly-Type"))).toEqual(events.map((e) => e.type));
    expect(messages.map((m) => m.subject)).toEqual(events.map((e) => `${namespace}.orders.${e.type}`));
    expect(messages.map((m) => Number(m.headers.get("Orderly-Position")))).toEqual([from, from + 1, from + 2]);
    // The known ones decode as ever; the unknown one is the envelope docs/events.md promises: event_type set, no case.
    expect(decodeEnvelope(messages[0]?.data as Uint8Array).type).toBe("OrderPlaced");
    expect(decodeEnvelope(messages[2]?.data as Uint8Array).type).toBe("OrderCancelled");
    const unknown = messages[1]?.data as Uint8Array;
    expect(() => decodeEnvelope(unknown)).toThrow(/no event case is set/);
    // Field 5 (event_type, wire type 2) holds the type's name; field 2 (position) the store's position.
    const type = Buffer.from("OrderGiftWrapped");
    expect(Buffer.from(unknown).includes(Buffer.concat([Buffer.from([0x2a, type.length]), type]))).toBe(true);
    expect(unknown[0]).toBe(0x0a);
  });

  it("reports lag and latency metrics", async () => {
    const registry = new Registry();
    const { namespace, name, from } = await ownRelay("e");
    const relay = startRelay({ namespace, registry, name });
    const head = await appendAndCatchUp(relay, 200, 4, "caught up");
    const text = await registry.metrics();
    expect(text).toContain(`outbox_relay_events_published_total ${head - from + 1}\n`);
    expect(text).toMatch(/outbox_relay_publish_latency_seconds_count \d+/);
    expect(text).toContain("outbox_lag_events 0");
    expect(text).toContain("outbox_lag_seconds 0");
    expect(text).toContain("outbox_relay_active 1");
  });
});

describe("OutboxRelay when Postgres drops its connections", () => {
  it("reconnects, takes the lock again and continues without loss or duplicates", async () => {
    const { namespace, name, from } = await ownRelay("p");
    const relay = startRelay({ namespace, name });
    await eventually(() => relay.role === "active", "relay active");
    const burst = appendOrders(store, 4_000, 32);
    for (let i = 0; i < 3; i++) {
      const before = relay.ackedPosition;
      await eventually(() => relay.ackedPosition > before, "relay publishing", 60_000);
      // What a Postgres restart does to the relay: its lock session and its LISTEN session are cut.
      const cut = await pool.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where application_name in ('relay-p', 'relay-p-listen')",
      );
      expect(cut.rowCount).toBeGreaterThan(0);
      await eventually(() => relay.role === "active" && relay.ready, "relay active again", 60_000);
    }
    await burst;
    const head = await headPosition();
    await eventually(() => relay.ackedPosition === head, "relay caught up", 60_000);
    checkGaplessOrder(await readWholeStream(nc, ordersBus(namespace).stream), head, from);
  });
});

describe("OutboxRelay with its own nats-server", () => {
  let storeDir: string;
  afterAll(async () => {
    if (storeDir) await rm(storeDir, { recursive: true, force: true });
  });

  it("loses nothing when NATS is killed and restarted during a burst, and recovers by itself", async () => {
    storeDir = await mkdtemp(join(tmpdir(), "orderly-nats-"));
    const nats = await startNatsServer(await freePort(), storeDir);
    const { namespace, name, from } = await ownRelay("n");
    const relay = startRelay({ namespace, natsUrl: nats.url, name, ackTimeoutMs: 3_000 });
    try {
      await eventually(() => relay.ready, "relay ready");
      const burst = appendOrders(store, 6_000, 32);
      await eventually(() => relay.ackedPosition > from + 1_000, "relay publishing");
      await nats.stop("SIGKILL");
      await eventually(() => !relay.ready, "relay unready while NATS is down");
      await new Promise((r) => setTimeout(r, 1_000));
      await nats.restart();
      await burst;
      const head = await headPosition();
      await eventually(() => relay.ackedPosition === head && relay.ready, "relay caught up after restart", 60_000);
      const local = await connect({ servers: nats.url });
      try {
        checkGaplessOrder(await readWholeStream(local, ordersBus(namespace).stream), head, from);
      } finally {
        await local.close();
      }
    } finally {
      await relay.stop();
      await nats.stop("SIGTERM");
    }
  });

  it("waits for NATS that is not there at start, then publishes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderly-nats-"));
    const port = await freePort();
    const namespace = `${env.namespace}_m`;
    await startingAtHead("relay-m");
    const relay = startRelay({ namespace, natsUrl: `nats://127.0.0.1:${port}`, name: "relay-m" });
    try {
      await appendOrders(store, 10, 2);
      await new Promise((r) => setTimeout(r, 500));
      expect(relay.ready).toBe(false);
      const nats = await startNatsServer(port, dir);
      try {
        const head = await headPosition();
        await eventually(() => relay.ackedPosition === head, "relay caught up", 60_000);
      } finally {
        await relay.stop();
        await nats.stop("SIGTERM");
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
