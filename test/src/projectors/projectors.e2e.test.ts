import { randomUUID } from "node:crypto";
import { testMetadata } from "@orderly/eventsourcing/testing";
import { customerOrdersKeys, PostgresOrderSummaryReader, RedisCustomerOrdersReader } from "@orderly/order-read-models";
import {
  appendHistories,
  foldEventLog,
  generateOrderHistories,
  loseCustomerOrderKeys,
} from "@orderly/order-read-models/testing";
import { eventually, startService } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, type Harness, metricValue, projectorEntries } from "./harness.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const projectorEnv = { PROJECTOR_POISON_RETRY_MS: "200" };

let h: Harness;
let relay: ReturnType<Harness["startRelay"]>;
const running: Record<"postgres" | "redis", Awaited<ReturnType<Harness["startProjector"]>> | undefined> = {
  postgres: undefined,
  redis: undefined,
};

async function restart(kind: "postgres" | "redis"): Promise<void> {
  await running[kind]?.service.kill();
  running[kind] = await h.startProjector(kind, projectorEnv);
}

async function ready(kind: "postgres" | "redis"): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${running[kind]?.port}/readyz`);
  await response.arrayBuffer();
  return response.status === 200;
}

/**
 * An operator's reset: deletes the durable consumer, asking again as an operator would when the server answers with an
 * error (a shared nats-server under load once refused with `unlinkat …: directory not empty` while the projector was
 * acking) — done once the consumer is gone.
 */
async function deleteConsumer(consumer: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await h.jsm.consumers.delete(h.stream, consumer);
      return;
    } catch (error) {
      const gone = await h.jsm.consumers.info(h.stream, consumer).then(
        () => false,
        (e: unknown) => String(e).includes("consumer not found"),
      );
      if (gone) return;
      if (attempt >= 5) throw error;
      await sleep(200 * attempt);
    }
  }
}

beforeAll(async () => {
  h = await createHarness();
});

afterAll(async () => {
  await relay?.stop();
  await h?.cleanup();
});

describe("projectors (processes, real Postgres, NATS and Redis)", () => {
  it("20,000 events while both projectors are SIGKILLed at random 10 times: every order equals a fresh fold", async () => {
    relay = h.startRelay();
    await restart("postgres");
    await restart("redis");
    const appending = appendHistories(h.store, generateOrderHistories(20_000, 11), 64);
    let finished = false;
    void appending.finally(() => {
      finished = true;
    });
    // Ten rounds; each SIGKILLs both projectors at a random moment and starts them again.
    for (let kill = 0; kill < 10; kill++) {
      await sleep(200 + Math.floor(Math.random() * 800));
      await Promise.all([running.postgres?.service.kill(), running.redis?.service.kill()]);
      [running.postgres, running.redis] = await Promise.all([
        h.startProjector("postgres", projectorEnv),
        h.startProjector("redis", projectorEnv),
      ]);
    }
    await appending;
    expect(finished).toBe(true);
    const head = await h.caughtUp();
    expect(head).toBeGreaterThanOrEqual(20_000);
    await h.expectModelsEqualFold(expect);
  }, 400_000);

  it("duplicate delivery (republished messages, consumers reset) leaves both read models unchanged", async () => {
    const before = await h.snapshot();
    const old = await h.store.readAll(0, 2000);
    await h.publish(old, { duplicate: true });
    for (const consumer of Object.values(h.consumers)) await deleteConsumer(consumer);
    // Each projector recreates its consumer, which redelivers the whole stream; everything is at or below the checkpoint.
    for (const consumer of Object.values(h.consumers)) {
      await eventually(
        async () => {
          const info = await h.jsm.consumers.info(h.stream, consumer);
          return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq > 0;
        },
        `consumer ${consumer} redelivered everything`,
        90_000,
        200,
      );
    }
    expect(await h.snapshot()).toEqual(before);
  }, 240_000);

  it("a message lost in transport is fetched from the event store (middle and tail of a burst)", async () => {
    await relay.stop();
    const head = await h.store.headPosition();
    await appendHistories(h.store, generateOrderHistories(300, 12), 16);
    const events = await h.store.readAll(head, 1000);
    const last = events[events.length - 1]?.position ?? 0;
    const dropped = new Set([head + 10, head + 11, head + 150, last]);
    await h.publish(events.filter((e) => !dropped.has(e.position)));
    await h.caughtUp();
    await h.expectModelsEqualFold(expect);
    for (const kind of ["postgres", "redis"] as const) {
      const text = await h.metrics(running[kind]?.port ?? 0);
      const name = kind === "postgres" ? "order_summaries" : "customer_orders";
      expect(metricValue(text, `projection_gap_fetches_total{projection="${name}"}`)).toBeGreaterThan(0);
    }
    relay = h.startRelay();
    // The relay republishes what was already published: the projectors drop it.
    await eventually(async () => relay.published === (await h.store.headPosition()), "relay caught up");
  }, 240_000);

  it("rebuilds both read models with no downtime while events are appended and queries run", async () => {
    const summaries = new PostgresOrderSummaryReader(h.pool);
    const lists = new RedisCustomerOrdersReader(h.redis, h.env.namespace);
    const sample = [...(await h.postgresRows()).values()].slice(0, 20);
    let reads = 0;
    const problems: string[] = [];
    let stop = false;
    const reading = (async () => {
      while (!stop) {
        for (const order of sample) {
          try {
            const [summary, page] = await Promise.all([
              summaries.getOrderSummary(order.orderId),
              lists.listCustomerOrders(order.customerId, { limit: 100 }),
            ]);
            reads++;
            if (!summary) problems.push(`summary of ${order.orderId} missing`);
            if (!page.orders.some((o) => o.orderId === order.orderId)) problems.push(`${order.orderId} not listed`);
          } catch (error) {
            problems.push(String(error));
          }
        }
      }
    })();
    const appending = appendHistories(h.store, generateOrderHistories(1500, 13), 8);
    const rebuilds = await Promise.all(
      (["postgres", "redis"] as const).map(async (kind) => {
        const service = await startService({
          name: `rebuild-${kind}`,
          entry: projectorEntries[kind],
          args: ["rebuild"],
          env: { ...h.env.env, LOG_LEVEL: "warn" },
        });
        expect(await service.exited).toBe(0);
        const line = service
          .output()
          .split("\n")
          .find((l) => l.startsWith('{"projection"'));
        return JSON.parse(line ?? "{}") as { verification?: { rows: number; expectedRows: number } };
      }),
    );
    await appending;
    await h.caughtUp();
    stop = true;
    await reading;
    expect(problems).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    for (const result of rebuilds) expect(result.verification?.rows).toBe(result.verification?.expectedRows);
    const tables = await h.pool.query("select tablename from pg_tables where tablename like 'order_summaries%'");
    expect(tables.rows.map((r) => r.tablename)).toEqual(["order_summaries"]);
    await h.expectModelsEqualFold(expect);
  }, 300_000);

  it("notices Redis lost its data under it and rebuilds from the event store", async () => {
    const head = await h.caughtUp();
    const orders = [...(await foldEventLog(h.store, head)).values()];
    // All of it in one UNLINK of the names we know (never a SCAN-driven delete in a keyspace others share).
    await loseCustomerOrderKeys(h.redis, h.env.namespace, orders, { all: true });
    // What the query side sees meanwhile: a checkpoint far behind the head, i.e. lag.
    expect(await h.checkpoints.redis.checkpoint()).toBeLessThan(head);
    await h.caughtUp();
    await h.expectModelsEqualFold(expect);
    const text = await h.metrics(running.redis?.port ?? 0);
    expect(
      metricValue(text, 'projection_data_lost_total{projection="customer_orders",kind="total"}'),
    ).toBeGreaterThanOrEqual(1);
  }, 240_000);

  it("notices Redis lost part of its keys (the checkpoint still there) and rebuilds from the event store", async () => {
    const head = await h.caughtUp();
    const current = customerOrdersKeys(h.env.namespace).current;
    const generation = await h.redis.get(current);
    const orders = [...(await foldEventLog(h.store, head)).values()];
    const customers = [...new Set(orders.map((o) => o.customerId))].filter((_, i) => i % 4 === 0);
    await loseCustomerOrderKeys(h.redis, h.env.namespace, orders, { customers });
    await eventually(async () => (await h.redis.get(current)) !== generation, "a fresh generation", 60_000);
    await h.caughtUp();
    await h.expectModelsEqualFold(expect);
    const text = await h.metrics(running.redis?.port ?? 0);
    expect(metricValue(text, 'projection_data_lost_total{projection="customer_orders",kind="partial"}')).toBe(1);
  }, 240_000);

  it("stops at a poison event (unready, exposed in metrics) and resumes after the event is repaired", async () => {
    const orderId = randomUUID();
    const commandId = randomUUID();
    const outcome = await h.store.append({
      streamId: `order-${orderId}`,
      expectedVersion: "no_stream",
      events: [
        {
          event: { type: "PaymentReceived", data: { amountMinor: 100, paymentReference: "ghost" } },
          metadata: testMetadata(commandId),
        },
      ],
    });
    await appendHistories(h.store, generateOrderHistories(50, 14), 8);
    for (const [kind, name] of [
      ["postgres", "order_summaries"],
      ["redis", "customer_orders"],
    ] as const) {
      await eventually(
        async () =>
          metricValue(await h.metrics(running[kind]?.port ?? 0), `projection_poisoned{projection="${name}"}`) ===
          outcome.position,
        `${name} poisoned at ${outcome.position}`,
        60_000,
        100,
      );
      expect(await ready(kind)).toBe(false);
      expect(running[kind]?.service.output()).toContain("poison event");
    }
    expect(await h.checkpoints.postgres.checkpoint()).toBe(outcome.position - 1);
    expect(await h.checkpoints.redis.checkpoint()).toBe(outcome.position - 1);
    // The repair: the event becomes what it should have been.
    await h.pool.query("update events set event_type = 'OrderPlaced', data = $2 where position = $1", [
      outcome.position,
      JSON.stringify({ orderId, customerId: "repaired", currency: "EUR", items: [], totalMinor: 0 }),
    ]);
    await h.caughtUp();
    for (const kind of ["postgres", "redis"] as const) {
      await eventually(() => ready(kind), `${kind} ready again`);
    }
    await h.expectModelsEqualFold(expect);
  }, 240_000);
});
