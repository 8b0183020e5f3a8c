import { fileURLToPath } from "node:url";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { encodeEnvelope, ensureOrdersStream, headers, streamName, subjectFor } from "@orderly/event-bus";
import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import type { RecordedEvent } from "@orderly/eventsourcing";
import {
  CUSTOMER_ORDERS,
  canonicalSummary,
  customerOrdersKeys,
  migrateReadModels,
  ORDER_SUMMARIES,
  type OrderSummaryView,
  PostgresCheckpointReader,
  RedisCheckpointReader,
  RedisCustomerOrdersReader,
  rowToSummary,
} from "@orderly/order-read-models";
import { checksumSummaries, foldEventLog, readGeneration, readLists } from "@orderly/order-read-models/testing";
import type { OrderEvent } from "@orderly/orders-domain";
import { eventually, freePort, type RunningService, startService } from "@orderly/testing";
import { Redis } from "ioredis";
import { stackEnvironment } from "../stack-environment.js";

export const projectorEntries = {
  postgres: fileURLToPath(new URL("../../../services/projector-postgres/dist/main.js", import.meta.url)),
  redis: fileURLToPath(new URL("../../../services/projector-redis/dist/main.js", import.meta.url)),
};

/** One isolated run: database, JetStream stream, Redis prefix, plus helpers to feed and inspect the projectors. */
export async function createHarness() {
  const env = await stackEnvironment();
  const pool = createPool(env.databaseUrl, { max: 8 });
  await migrateEventStore(pool);
  await migrateReadModels(pool);
  const store = new PostgresEventStore(pool);
  const redis = new Redis(env.redisUrl);
  const nc: NatsConnection = await connect({ servers: env.natsUrl, noAsyncTraces: true });
  const jsm: JetStreamManager = await jetstreamManager(nc);
  await ensureOrdersStream(jsm, env.namespace);
  const js: JetStreamClient = jetstream(nc);
  const services: RunningService[] = [];

  /** Publishes events as the relay would (envelope, headers, Nats-Msg-Id), or under a fresh id to force a duplicate. */
  async function publish(events: readonly RecordedEvent[], options: { duplicate?: boolean } = {}): Promise<void> {
    for (let i = 0; i < events.length; i += 500) {
      const chunk = events.slice(i, i + 500);
      await Promise.all(
        chunk.map((event) => {
          const h = natsHeaders();
          h.set(headers.position, String(event.position));
          h.set(headers.stream, event.streamId);
          h.set(headers.type, event.type);
          h.set(headers.committedAt, String(event.committedAt.getTime()));
          const msgID = options.duplicate ? `${event.metadata.eventId}-dup-${Date.now()}` : event.metadata.eventId;
          return js.publish(subjectFor(env.namespace, event.type), encodeEnvelope(event as RecordedEvent<OrderEvent>), {
            msgID,
            headers: h,
          });
        }),
      );
    }
  }

  /** A minimal relay: publishes everything after its own checkpoint, in order, skipping `drop`. */
  function startRelay(drop: ReadonlySet<number> = new Set()) {
    let published = 0;
    let stopped = false;
    const done = (async () => {
      while (!stopped) {
        const events = await store.readAll(published, 1000);
        if (events.length === 0) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        await publish(events.filter((e) => !drop.has(e.position)));
        published = (events[events.length - 1] as RecordedEvent).position;
      }
    })();
    return {
      get published() {
        return published;
      },
      async stop() {
        stopped = true;
        await done;
      },
    };
  }

  async function startProjector(kind: "postgres" | "redis", extraEnv: Record<string, string> = {}) {
    const port = await freePort();
    const service = await startService({
      name: `projector-${kind}`,
      entry: projectorEntries[kind],
      env: {
        ...env.env,
        METRICS_PORT: String(port),
        LOG_LEVEL: "warn",
        // customer_orders' partial-loss detection bound (interval + audit pass, ADR 0007): 6 s instead of 65 s.
        PROJECTOR_REDIS_CHECK_INTERVAL_MS: "1000",
        PROJECTOR_REDIS_AUDIT_PASS_MS: "5000",
        ...extraEnv,
      },
      readyUrl: `http://127.0.0.1:${port}/readyz`,
      readyTimeoutMs: 60_000,
    });
    services.push(service);
    return { service, port };
  }

  const checkpoints = {
    postgres: new PostgresCheckpointReader(pool),
    redis: new RedisCheckpointReader(redis, env.namespace),
  };

  async function caughtUp(timeoutMs = 90_000): Promise<number> {
    const head = await store.headPosition();
    await eventually(
      async () => (await checkpoints.postgres.checkpoint()) === head && (await checkpoints.redis.checkpoint()) === head,
      `both read models at ${head}`,
      timeoutMs,
      100,
    );
    return head;
  }

  /** All rows of order_summaries, by order id. */
  async function postgresRows(): Promise<Map<string, OrderSummaryView>> {
    const result = await pool.query(`select * from ${ORDER_SUMMARIES}`);
    return new Map(result.rows.map((row) => [row.order_id as string, rowToSummary(row)]));
  }

  /** The live Redis generation: its summaries, and how each order is listed. */
  async function redisModel() {
    const keys = customerOrdersKeys(env.namespace);
    const gen = await redis.get(keys.current);
    if (gen === null) return { summaries: new Map<string, OrderSummaryView>(), lists: new Map() };
    const g = keys.generation(gen);
    return { summaries: await readGeneration(redis, g), lists: await readLists(redis, g) };
  }

  /** Checksums of both read models (for "unchanged" comparisons). */
  async function snapshot() {
    const model = await redisModel();
    return {
      postgres: checksumSummaries((await postgresRows()).values()),
      redis: checksumSummaries(model.summaries.values()),
      listed: [...model.lists.values()].reduce((sum, entry) => sum + entry.count, 0),
      checkpoints: [await checkpoints.postgres.checkpoint(), await checkpoints.redis.checkpoint()],
    };
  }

  /**
   * Every order in both read models equals a fresh fold of its events (all of them compared), and every customer's
   * list (read page by page through the reader) holds each of its orders exactly once, newest first.
   */
  async function expectModelsEqualFold(expect: (value: unknown) => { toEqual(v: unknown): void }) {
    const head = await store.headPosition();
    const folded = await foldEventLog(store, head);
    const want = [...folded.values()].map(canonicalSummary).sort();
    expect([...(await postgresRows()).values()].map(canonicalSummary).sort()).toEqual(want);
    const model = await redisModel();
    expect([...model.summaries.values()].map(canonicalSummary).sort()).toEqual(want);
    const byCustomer = new Map<string, OrderSummaryView[]>();
    for (const s of folded.values()) byCustomer.set(s.customerId, [...(byCustomer.get(s.customerId) ?? []), s]);
    const reader = new RedisCustomerOrdersReader(redis, env.namespace);
    for (const [customerId, orders] of byCustomer) {
      const listed: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await reader.listCustomerOrders(customerId, after ? { limit: 50, after } : { limit: 50 });
        listed.push(...page.orders.map((o) => o.orderId));
        if (!page.next) break;
        after = page.next;
      }
      const expected = [...orders]
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.placedPosition - a.placedPosition)
        .map((o) => o.orderId);
      expect({ customerId, listed }).toEqual({ customerId, listed: expected });
    }
  }

  async function metrics(port: number): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    return response.text();
  }

  async function cleanup() {
    for (const service of services) await service.kill().catch(() => undefined);
    await store.close();
    await nc.close();
    redis.disconnect();
    await pool.end();
    await env.cleanup();
  }

  return {
    env,
    pool,
    store,
    redis,
    js,
    jsm,
    stream: streamName(env.namespace),
    consumers: { postgres: `${env.namespace}_${ORDER_SUMMARIES}`, redis: `${env.namespace}_${CUSTOMER_ORDERS}` },
    publish,
    startRelay,
    startProjector,
    caughtUp,
    checkpoints,
    postgresRows,
    redisModel,
    snapshot,
    expectModelsEqualFold,
    metrics,
    cleanup,
  };
}

export type Harness = Awaited<ReturnType<typeof createHarness>>;

/** The value of a metric sample, e.g. `metricValue(text, 'projection_poisoned{projection="order_summaries"}')`. */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}
