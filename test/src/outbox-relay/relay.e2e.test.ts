import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { streamName } from "@orderly/event-bus";
import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import { appendOrders, checkGaplessOrder, readWholeStream, startNatsServer } from "@orderly/outbox-relay/testing";
import {
  createTestEnvironment,
  eventually,
  freePort,
  type RunningService,
  startService,
  type TestEnvironment,
} from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The relay as a process: SIGKILL at random points, NATS killed under it, two instances at once.

const relayEntry = fileURLToPath(new URL("../../../services/outbox-relay/dist/main.js", import.meta.url));

let env: TestEnvironment;
let pool: pg.Pool;
let store: PostgresEventStore;

beforeAll(async () => {
  env = await createTestEnvironment();
  pool = createPool(env.databaseUrl, { max: 40 });
  await migrateEventStore(pool);
  store = new PostgresEventStore(pool);
});

afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

const head = async () => Number((await pool.query("select last from global_position")).rows[0].last);
const checkpoint = async () =>
  Number(
    (await pool.query("select position from relay_checkpoints where name = 'outbox-relay'")).rows[0]?.position ?? 0,
  );

const metricsPorts = new WeakMap<RunningService, number>();

async function startRelay(extraEnv: Record<string, string> = {}, name = "outbox-relay"): Promise<RunningService> {
  const metricsPort = await freePort();
  const service = await startService({
    name,
    entry: relayEntry,
    env: { ...env.env, METRICS_PORT: String(metricsPort), RELAY_LOCK_RETRY_MS: "100", ...extraEnv },
    readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
  });
  metricsPorts.set(service, metricsPort);
  return service;
}

const metricsPortOf = (service: RunningService) => metricsPorts.get(service) as number;

async function metric(service: RunningService, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPortOf(service)}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

async function readyStatus(service: RunningService): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${metricsPortOf(service)}/readyz`)).status;
  } catch {
    return 0;
  }
}

async function streamMessages(natsUrl: string) {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  try {
    return await readWholeStream(nc, streamName(env.namespace));
  } finally {
    await nc.close();
  }
}

describe("outbox-relay process", () => {
  it("exports orderly_oldest_transaction_age_seconds: the age of a transaction left open in the event store's database", async () => {
    const relay = await startRelay();
    const database = new URL(env.databaseUrl).pathname.slice(1);
    const age = async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPortOf(relay)}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith(`orderly_oldest_transaction_age_seconds{datname="${database}"} `));
      return line === undefined ? undefined : Number(line.split(" ")[1]);
    };
    const holder = await pool.connect();
    try {
      expect(await age()).toBeLessThan(1);
      await holder.query("begin");
      await holder.query("select last from global_position");
      await eventually(async () => ((await age()) ?? 0) >= 2, "the open transaction's age to show", 20_000);
      await holder.query("commit");
      expect(await age()).toBeLessThan(1);
    } finally {
      holder.release();
      await relay.stop();
    }
  });

  it("SIGKILLed at random points 10 times during a 20,000-event burst: every event in the stream, none twice", async () => {
    const burst = appendOrders(store, 20_000, 32);
    let relay: RunningService | undefined;
    let kills = 0;
    try {
      for (; kills < 10; kills++) {
        const before = await checkpoint();
        relay = await startService({
          name: `relay-${kills}`,
          entry: relayEntry,
          env: { ...env.env, METRICS_PORT: String(await freePort()), RELAY_LOCK_RETRY_MS: "100" },
        });
        // Kill it at a random instant of its life: starting, waiting for the lock, reconciling, or (mostly) while
        // it publishes: mid-batch, between the acks and the checkpoint.
        const deadline = Date.now() + 4_000;
        while (Date.now() < deadline && (await checkpoint()) === before) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, Math.random() * 300));
        await relay.kill();
      }
      relay = await startRelay();
      await burst;
      const last = await head();
      await eventually(async () => (await checkpoint()) === last, "relay caught up after the burst", 60_000);
      // SIGTERM: a graceful stop (acks finished, checkpoint written, lock released) exits 0.
      expect(await relay.stop()).toBe(0);
    } finally {
      await relay?.stop();
    }
    expect(kills).toBe(10);
    const messages = await streamMessages(env.natsUrl);
    checkGaplessOrder(messages, await head());
    expect(new Set(messages.map((m) => m.msgId)).size).toBe(messages.length);
  });

  it("two relays at once: one publishes, the other waits; kill the first, the second continues without loss", async () => {
    const first = await startRelay({}, "relay-1");
    const second = await startRelay({}, "relay-2");
    try {
      await eventually(async () => (await metric(first, "outbox_relay_active")) === 1, "first relay active");
      expect(await metric(second, "outbox_relay_active")).toBe(0);
      const burst = appendOrders(store, 4_000, 32);
      const start = await checkpoint();
      await eventually(async () => (await checkpoint()) > start + 200, "first relay publishing", 30_000);
      expect(await metric(second, "outbox_relay_active")).toBe(0);
      expect(await metric(second, "outbox_relay_events_published_total")).toBe(0);
      await first.kill();
      await eventually(async () => (await metric(second, "outbox_relay_active")) === 1, "second relay took over");
      await burst;
      const last = await head();
      await eventually(async () => (await checkpoint()) === last, "second relay caught up", 60_000);
      expect(await metric(second, "outbox_relay_events_published_total")).toBeGreaterThan(0);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
    checkGaplessOrder(await streamMessages(env.natsUrl), await head());
  });

  it("NATS restarted during a burst: nothing lost, readyz goes 503 then 200, the relay recovers by itself", async () => {
    const storeDir = await mkdtemp(join(tmpdir(), "orderly-nats-"));
    const nats = await startNatsServer(await freePort(), storeDir);
    // Its own namespace's stream on the private server; a fresh checkpoint row name via another namespace is not
    // possible (the name is fixed), so this relay starts from the shared checkpoint and publishes the rest.
    const relay = await startRelay({ NATS_URL: nats.url, RELAY_ACK_TIMEOUT_MS: "3000" }, "relay-nats");
    try {
      const burst = appendOrders(store, 6_000, 32);
      const start = await checkpoint();
      await eventually(async () => (await checkpoint()) > start + 200, "relay publishing", 30_000);
      await nats.stop("SIGKILL");
      await eventually(async () => (await readyStatus(relay)) === 503, "readyz 503 while NATS is down");
      await new Promise((r) => setTimeout(r, 1_000));
      await nats.restart();
      await eventually(async () => (await readyStatus(relay)) === 200, "readyz 200 after NATS is back", 60_000);
      await burst;
      const last = await head();
      await eventually(async () => (await checkpoint()) === last, "relay caught up", 60_000);
      const messages = await streamMessages(nats.url);
      // The private stream starts where the shared checkpoint stood when this relay first reconciled.
      const first = messages[0]?.position ?? 0;
      expect(first).toBeGreaterThan(0);
      messages.forEach((m, i) => {
        expect(m.position).toBe(first + i);
      });
      expect(messages.at(-1)?.position).toBe(last);
    } finally {
      await relay.stop();
      await nats.stop("SIGTERM");
      await rm(storeDir, { recursive: true, force: true });
    }
  });
});
