import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { GetOrderSummaryRequestSchema, ListCustomerOrdersRequestSchema, QueryService } from "@orderly/contracts";
import { MIGRATION_LOCK_KEY, migrateEventStore } from "@orderly/event-store-postgres";
import { grpcServiceDefinition, healthService } from "@orderly/grpc-server";
import { eventually, startTcpProxy, type TcpProxy, type TestEnvironment } from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningQueryService, startQueryService } from "./app.js";
import { InMemoryReadModels } from "./in-memory-read-models.js";
import { eventStoreTestEnvironment, inMemoryReaders, testLogger, testServiceConfig } from "./test-service.js";

// The composition root in-process, with the real Postgres and Redis reached through TCP proxies the test can cut,
// to see health follow them. The read models are in-memory; the checkpoints are read over the real connections.

let env: TestEnvironment;
let pool: pg.Pool;
let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let service: RunningQueryService;
const models = new InMemoryReadModels();

beforeAll(async () => {
  ({ env, pool } = await eventStoreTestEnvironment());
  const pgUrl = new URL(env.databaseUrl);
  const redisUrl = new URL(env.redisUrl);
  pgProxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  redisProxy = await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
  const config = testServiceConfig(env.env, {
    DATABASE_URL: pgProxy.url(env.databaseUrl),
    REDIS_URL: redisProxy.url(env.redisUrl),
    QUERY_READ_TIMEOUT_MS: "500",
  });
  service = await startQueryService({
    config,
    logger: testLogger,
    readers: ({ pool: servicePool, redis }) => ({
      // Over the service's real Postgres and Redis connections, as the real readers' statements and commands are.
      summaries: {
        getOrderSummary: async (orderId) => {
          await servicePool.query("select 1");
          return models.getOrderSummary(orderId);
        },
      },
      customerOrders: {
        listCustomerOrders: async (customerId, page) => {
          await redis.exists(`${env.namespace}:probe`);
          return models.listCustomerOrders(customerId, page);
        },
      },
      summariesCheckpoint: {
        checkpoint: async () => Number((await servicePool.query("select count(*) as n from events")).rows[0].n),
      },
      customerOrdersCheckpoint: { checkpoint: async () => Number((await redis.get(`${env.namespace}:cp`)) ?? 0) },
    }),
  });
});

afterAll(async () => {
  await service?.close(1_000);
  await pgProxy?.close();
  await redisProxy?.close();
  await pool?.end();
  await env?.cleanup();
});

const ready = async () => (await fetch(`http://127.0.0.1:${service.metricsPort}/readyz`)).status === 200;

type HealthClient = grpc.Client & {
  check(request: { service: string }, callback: (error: Error | null, response?: { status: string }) => void): void;
  watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};
function healthClient(): HealthClient {
  const Health = grpc.makeClientConstructor(healthService, "Health");
  return new Health(`127.0.0.1:${service.grpcPort}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
}
/** grpc.health.v1 Check of the whole server and of the QueryService: both must agree. */
async function serving(health: HealthClient): Promise<string> {
  const statuses = await Promise.all(
    ["", "orderly.orders.v1.QueryService"].map(
      (name) =>
        new Promise<string>((resolve, reject) =>
          health.check({ service: name }, (error, response) =>
            error ? reject(error) : resolve(response?.status ?? ""),
          ),
        ),
    ),
  );
  return statuses[0] === statuses[1] ? (statuses[0] as string) : `disagree: ${statuses.join("/")}`;
}

function client() {
  const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(QueryService), "QueryService");
  return new Client(`127.0.0.1:${service.grpcPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    getOrderSummary: (...args: unknown[]) => void;
    listCustomerOrders: (...args: unknown[]) => void;
  };
}

/** The error a unary call ends with, or undefined when it answered. */
function failureOf(
  call: (done: (error: grpc.ServiceError | null) => void) => void,
): Promise<grpc.ServiceError | undefined> {
  return new Promise((resolve) => call((error) => resolve(error ?? undefined)));
}

describe("the query service's health", () => {
  it("is ready and SERVING with Postgres and Redis up, NOT_SERVING while either is down or silent, and SERVING again after", async () => {
    const health = healthClient();
    const watched: string[] = [];
    const watch = health.watch({ service: "" });
    watch.on("data", (message: { status: string }) => watched.push(message.status));
    watch.on("error", () => {});
    expect(await ready()).toBe(true);
    expect(await serving(health)).toBe("SERVING");

    await redisProxy.down();
    await eventually(async () => !(await ready()), "not ready without Redis", 30_000);
    await eventually(async () => (await serving(health)) === "NOT_SERVING", "NOT_SERVING without Redis", 5_000);
    // Reads that need only Postgres keep answering meanwhile.
    const c = client();
    const order = {
      orderId: randomUUID(),
      customerId: "c",
      status: "placed" as const,
      paymentStatus: "pending" as const,
      currency: "EUR",
      totalMinor: 5,
      paidMinor: 0,
      itemCount: 1,
      version: 1,
      createdAt: new Date(),
      updatedAt: new Date(),
      lastPosition: 0,
    };
    models.put(order);
    const answer = await new Promise<unknown>((resolve, reject) =>
      c.getOrderSummary(
        create(GetOrderSummaryRequestSchema, { orderId: order.orderId }),
        { deadline: Date.now() + 10_000 },
        (error: Error | null, response: unknown) => (error ? reject(error) : resolve(response)),
      ),
    );
    expect((answer as { summary: { orderId: string } }).summary.orderId).toBe(order.orderId);
    c.close();

    await redisProxy.up();
    await eventually(() => ready(), "ready again with Redis back", 30_000);
    await eventually(async () => (await serving(health)) === "SERVING", "SERVING with Redis back", 5_000);

    await pgProxy.down();
    await eventually(async () => !(await ready()), "not ready without Postgres", 30_000);
    await eventually(async () => (await serving(health)) === "NOT_SERVING", "NOT_SERVING without Postgres", 5_000);
    await pgProxy.up();
    await eventually(() => ready(), "ready again with Postgres back", 30_000);
    await eventually(async () => (await serving(health)) === "SERVING", "SERVING with Postgres back", 5_000);

    // A Postgres, then a Redis, that stops answering without closing the connection (a hung network): a read that
    // needs it is UNAVAILABLE within the read timeout (the call has no deadline of its own), the service goes
    // NOT_SERVING, and SERVING again once it answers.
    const reader = client();
    const silent = [
      {
        name: "Postgres",
        proxy: pgProxy,
        readModel: /order_summaries/,
        read: () =>
          failureOf((done) =>
            reader.getOrderSummary(create(GetOrderSummaryRequestSchema, { orderId: order.orderId }), done),
          ),
      },
      {
        name: "Redis",
        proxy: redisProxy,
        readModel: /customer_orders/,
        read: () =>
          failureOf((done) =>
            reader.listCustomerOrders(create(ListCustomerOrdersRequestSchema, { customerId: "c" }), done),
          ),
      },
    ];
    for (const { name, proxy, readModel, read } of silent) {
      expect(await read()).toBeUndefined();
      proxy.freeze();
      // Twice: the first read times out on a pooled connection (which is dropped), the second needs a new one, whose
      // connect the silent server accepts but never answers; both are bounded by the read timeout.
      for (const attempt of ["pooled connection", "new connection"]) {
        const started = Date.now();
        const failure = await read();
        expect(failure?.code, attempt).toBe(grpc.status.UNAVAILABLE);
        expect(failure?.details, attempt).toMatch(readModel);
        expect(Date.now() - started, attempt).toBeLessThan(3_000);
      }
      await eventually(async () => (await serving(health)) === "NOT_SERVING", `NOT_SERVING with a silent ${name}`);
      expect(await ready()).toBe(false);
      await proxy.up();
      await eventually(async () => (await serving(health)) === "SERVING", `SERVING with ${name} answering again`);
      expect(await read()).toBeUndefined();
    }
    reader.close();

    await eventually(() => watched.length === 9, "Watch to see every change", 5_000);
    expect(watched).toEqual([
      "SERVING",
      "NOT_SERVING",
      "SERVING",
      "NOT_SERVING",
      "SERVING",
      "NOT_SERVING",
      "SERVING",
      "NOT_SERVING",
      "SERVING",
    ]);
    watch.cancel();
    health.close();
  }, 120_000);
});

describe("the query service's start", () => {
  it("waits for another process's migrations however long they take: the read timeout does not cut them short", async () => {
    const holder = new pg.Client({ connectionString: env.databaseUrl });
    await holder.connect();
    await holder.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    let prepared = false;
    const starting = startQueryService({
      config: testServiceConfig(env.env, { QUERY_READ_TIMEOUT_MS: "200" }),
      logger: testLogger,
      readers: inMemoryReaders(models),
      prepare: async ({ pool: setupPool }) => {
        await migrateEventStore(setupPool);
        prepared = true;
      },
    });
    try {
      await sleep(1_000);
      expect(prepared).toBe(false);
    } finally {
      await holder.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
      await holder.end();
    }
    const second = await starting;
    expect(prepared).toBe(true);
    await second.close(1_000);
  });
});
