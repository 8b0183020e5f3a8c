import { randomUUID } from "node:crypto";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { GetOrderSummaryRequestSchema, QueryService } from "@orderly/contracts";
import { createPool, migrateEventStore } from "@orderly/event-store-postgres";
import { grpcServiceDefinition } from "@orderly/grpc-server";
import { createLogger } from "@orderly/observability";
import { createTestEnvironment, eventually, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningQueryService, startQueryService } from "./app.js";
import { readQueryServiceConfig } from "./config.js";
import { InMemoryReadModels } from "./in-memory-read-models.js";

// The composition root in-process, with the real Postgres and Redis reached through TCP proxies the test can cut,
// to see health follow them. The read models are in-memory; the checkpoints are read over the real connections.

class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = tcpConnect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, "127.0.0.1", resolve));
    const address = this.server.address();
    if (address && typeof address === "object") this.port = address.port;
  }

  /** The server is "down": connections are cut and new ones refused. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

const logger = createLogger("test", { level: "silent" });
let env: TestEnvironment;
let pool: pg.Pool;
let pgProxy: TcpProxy;
let redisProxy: TcpProxy;
let service: RunningQueryService;
const models = new InMemoryReadModels();

beforeAll(async () => {
  env = await createTestEnvironment();
  pool = createPool(env.databaseUrl);
  await migrateEventStore(pool);
  const pgUrl = new URL(env.databaseUrl);
  const redisUrl = new URL(env.redisUrl);
  pgProxy = new TcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
  redisProxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379));
  await pgProxy.start();
  await redisProxy.start();
  pgUrl.port = String(pgProxy.port);
  redisUrl.port = String(redisProxy.port);
  const config = readQueryServiceConfig({
    ...env.env,
    DATABASE_URL: pgUrl.toString(),
    REDIS_URL: redisUrl.toString(),
    QUERY_PORT: "0",
    METRICS_PORT: "0",
    QUERY_HOST: "127.0.0.1",
  });
  service = await startQueryService({
    config,
    logger,
    readers: ({ pool: servicePool, redis }) => ({
      summaries: models,
      customerOrders: models,
      summariesCheckpoint: {
        checkpoint: async () => Number((await servicePool.query("select count(*) as n from events")).rows[0].n),
      },
      customerOrdersCheckpoint: { checkpoint: async () => Number((await redis.get(`${env.namespace}:cp`)) ?? 0) },
    }),
  });
});

afterAll(async () => {
  await service?.close(1_000);
  await pgProxy?.stop();
  await redisProxy?.stop();
  await pool?.end();
  await env?.cleanup();
});

const ready = async () => (await fetch(`http://127.0.0.1:${service.metricsPort}/readyz`)).status === 200;

function client() {
  const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(QueryService), "QueryService");
  return new Client(`127.0.0.1:${service.grpcPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    getOrderSummary: (...args: unknown[]) => void;
  };
}

describe("the query service's health", () => {
  it("is ready with Postgres and Redis up, not ready while either is down, and ready again after", async () => {
    expect(await ready()).toBe(true);

    await redisProxy.stop();
    await eventually(async () => !(await ready()), "not ready without Redis", 30_000);
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

    await redisProxy.start();
    await eventually(() => ready(), "ready again with Redis back", 30_000);

    await pgProxy.stop();
    await eventually(async () => !(await ready()), "not ready without Postgres", 30_000);
    await pgProxy.start();
    await eventually(() => ready(), "ready again with Postgres back", 30_000);
  }, 120_000);
});
