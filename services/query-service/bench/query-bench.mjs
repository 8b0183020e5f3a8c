#!/usr/bin/env node
// Query-service benchmark (issue 6). Prints one JSON object of figures.
//
//   pnpm --filter @orderly/query-service bench            (after `pnpm build`)
//   BENCH_SECONDS=5 BENCH_INFLIGHT=64 BENCH_ORDERS=2000 node services/query-service/bench/query-bench.mjs
//
// 1. Reads with min_position = 0: GetOrderSummary and ListCustomerOrders queries/s through gRPC, against a raw
//    `SELECT … WHERE order_id = $1` through pg and `HGETALL` of an order hash through ioredis, from this same load
//    process in the same run, with the same number of calls in flight. Goal: ratio >= 0.5. A third reference in the
//    same passes, the gRPC ceiling: the same server stack answering with a canned reply (bench/canned-query-server.mjs,
//    real replies captured from the query service), so the ratio splits into what gRPC itself costs (ceiling vs
//    pg/Redis) and what the query service adds on top (service vs ceiling).
// 2. Command accepted → visible through GetOrderSummary(min_position): p50/p99 at half the maximum CreateOrder rate
//    measured a moment before, with every service of the pipeline running as a process. One command in five
//    (BENCH_RYW_FRACTION, default 0.2, as the end-to-end run's --ryw-rate 20%) is read back: the maximum rate is
//    that of commands alone, and reading every command back doubles the calls, which on two cores measures the
//    saturated machine rather than the pipeline (p50 28–44 ms, the query service waiting ≈ 9 ms on average).
//
// It starts the whole stack in its own test namespace (database, JetStream names, Redis keys) and removes it after.
import { randomUUID } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  CommandService,
  GetOrderSummaryRequestSchema,
  GetOrderSummaryResponseSchema,
  ListCustomerOrdersRequestSchema,
  ListCustomerOrdersResponseSchema,
  QueryService,
} from "@orderly/contracts";
import { grpcServiceDefinition } from "@orderly/grpc-server";
import { customerOrdersKeys, generationKeys } from "@orderly/order-read-models";
import { dropCustomerOrders } from "@orderly/order-read-models/testing";
import { createTestEnvironment, freePort, startService } from "@orderly/testing";
import { Redis } from "ioredis";
import pg from "pg";
import {
  clients,
  closedLoop,
  commandToVisible,
  createOrder,
  log,
  pool,
  ratio,
  round,
  unary,
  waitReached,
} from "./grpc-load.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const inflight = Number(process.env.BENCH_INFLIGHT ?? 64);
const orderCount = Number(process.env.BENCH_ORDERS ?? 2_000);
const visibleSeconds = Number(process.env.BENCH_VISIBLE_SECONDS ?? 10);
const rywFraction = Number(process.env.BENCH_RYW_FRACTION ?? 0.2);
/** `reads`, `visible` or both (default). */
const parts = (process.env.BENCH_PARTS ?? "reads,visible").split(",");

const services = ["command-service", "outbox-relay", "projector-postgres", "projector-redis", "query-service"];

async function main() {
  const env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  const running = [];
  const closers = [];
  try {
    const ports = { command: await freePort(), query: await freePort() };
    for (const name of services) {
      const metricsPort = await freePort();
      log(`starting ${name}`);
      running.push(
        await startService({
          name,
          entry:
            process.env.BENCH_WRAPPER && name === "query-service"
              ? process.env.BENCH_WRAPPER
              : join(root, "services", name, "dist/main.js"),
          env: {
            ...env.env,
            COMMAND_PORT: String(ports.command),
            QUERY_PORT: String(ports.query),
            METRICS_PORT: String(metricsPort),
            LOG_LEVEL: "warn",
            LOG_FORMAT: "json",
            PROF_ENTRY: join(root, "services", name, "dist/main.js"),
          },
          readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
          readyTimeoutMs: 60_000,
        }),
      );
    }
    const { commands, queries } = await clients(ports);
    // The read load uses protobuf-es messages (what our TypeScript clients use) over several HTTP/2 connections, as
    // several client processes would (BENCH_CHANNELS, default 4).
    const FastQueries = grpc.makeGenericClientConstructor(grpcServiceDefinition(QueryService), "QueryService");
    const channels = Array.from(
      { length: Number(process.env.BENCH_CHANNELS ?? 4) },
      (_, i) =>
        new FastQueries(`127.0.0.1:${ports.query}`, grpc.credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
          "bench.channel": i,
        }),
    );
    // The command→visible part uses the same lean client (protobuf-es over grpc-js) for both calls.
    const FastCommands = grpc.makeGenericClientConstructor(grpcServiceDefinition(CommandService), "CommandService");
    const fastCommands = new FastCommands(`127.0.0.1:${ports.command}`, grpc.credentials.createInsecure());
    closers.push(() => fastCommands.close());
    let nextChannel = 0;
    const fast = () => channels[nextChannel++ % channels.length];
    closers.push(() => {
      for (const c of channels) c.close();
    });
    closers.push(
      () => commands.close(),
      () => queries.close(),
    );

    // Data: orderCount orders over orderCount / 2 customers, all visible in both read models.
    log(`creating ${orderCount} orders`);
    const customers = Array.from({ length: Math.max(1, Math.floor(orderCount / 2)) }, () => `bench-${randomUUID()}`);
    const orders = [];
    let lastPosition = 0;
    await pool(32, orderCount, async (i) => {
      const accepted = await createOrder(commands, customers[i % customers.length]);
      orders.push(accepted.order_id);
      lastPosition = Math.max(lastPosition, Number(accepted.position));
    });
    await waitReached(queries, lastPosition);

    const pgPool = new pg.Pool({ connectionString: env.databaseUrl, max: 10 });
    const redis = new Redis(env.redisUrl);
    closers.push(
      () => pgPool.end(),
      () => redis.disconnect(),
    );
    // The key names come from the read model's own layout (customer-orders-keys.ts), so a layout change cannot break
    // the baseline silently (it did once: the hash tags of issue 17 moved every key).
    const keys = customerOrdersKeys(env.namespace);
    const generation = await redis.get(keys.current);
    const hashKey = (orderId) => generationKeys(keys.generation(generation)).order(orderId);
    const probe = await redis.hgetall(hashKey(orders[0]));
    if (Object.keys(probe).length === 0) throw new Error(`no Redis hash at ${hashKey(orders[0])}: layout changed?`);

    const pick = (list) => list[Math.floor(Math.random() * list.length)];
    const figures = {};

    // The gRPC ceiling: the same server stack with canned replies captured from the query service.
    const summaryReply = await unary(
      fast(),
      "getOrderSummary",
      create(GetOrderSummaryRequestSchema, { orderId: orders[0] }),
    );
    const listReply = await unary(
      fast(),
      "listCustomerOrders",
      create(ListCustomerOrdersRequestSchema, { customerId: customers[0] }),
    );
    const cannedPort = await freePort();
    log("starting the canned query server (gRPC ceiling)");
    const canned = await startService({
      name: "canned-query-server",
      entry: join(dirname(fileURLToPath(import.meta.url)), "canned-query-server.mjs"),
      env: {
        QUERY_PORT: String(cannedPort),
        CANNED_SUMMARY: Buffer.from(toBinary(GetOrderSummaryResponseSchema, summaryReply)).toString("base64"),
        CANNED_LIST: Buffer.from(toBinary(ListCustomerOrdersResponseSchema, listReply)).toString("base64"),
      },
      readyLine: /canned query server ready/,
    });
    running.push(canned);
    const cannedChannels = channels.map(
      (_, i) =>
        new FastQueries(`127.0.0.1:${cannedPort}`, grpc.credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
          "bench.channel": i,
        }),
    );
    closers.push(() => {
      for (const c of cannedChannels) c.close();
    });
    let nextCanned = 0;
    const cannedClient = () => cannedChannels[nextCanned++ % cannedChannels.length];
    // Alternate baseline and service twice each, so drift on a busy machine hits both alike.
    const rounds = [
      [
        "pg_select_by_pk",
        () =>
          pgPool.query({
            name: "bench-pk",
            text: "select * from order_summaries where order_id = $1",
            values: [pick(orders)],
          }),
      ],
      [
        "grpc_get_order_summary",
        () => unary(fast(), "getOrderSummary", create(GetOrderSummaryRequestSchema, { orderId: pick(orders) })),
      ],
      [
        "grpc_canned_get_order_summary",
        () => unary(cannedClient(), "getOrderSummary", create(GetOrderSummaryRequestSchema, { orderId: pick(orders) })),
      ],
      ["redis_hgetall", () => redis.hgetall(hashKey(pick(orders)))],
      [
        "grpc_list_customer_orders",
        () =>
          unary(fast(), "listCustomerOrders", create(ListCustomerOrdersRequestSchema, { customerId: pick(customers) })),
      ],
      [
        "grpc_canned_list_customer_orders",
        () =>
          unary(
            cannedClient(),
            "listCustomerOrders",
            create(ListCustomerOrdersRequestSchema, { customerId: pick(customers) }),
          ),
      ],
    ];
    for (const pass of parts.includes("reads") ? [1, 2] : []) {
      for (const [name, call] of rounds) {
        log(`pass ${pass}: ${name}`);
        const rate = await closedLoop(call, inflight, seconds);
        figures[name] = Math.max(figures[name] ?? 0, rate);
      }
    }

    let maxCommandRate = Number.NaN;
    let targetRate = Number.NaN;
    let visible = { commands: 0, count: 0, failures: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
    if (parts.includes("visible")) {
      log("measuring the maximum CreateOrder rate");
      maxCommandRate = await closedLoop(() => createOrder(commands, pick(customers)), inflight, seconds);
      targetRate = Number(process.env.BENCH_COMMAND_RATE ?? Math.max(1, Math.floor(maxCommandRate / 2)));
      log(`command accepted → visible at ${targetRate} commands/s for ${visibleSeconds} s`);
      visible = await commandToVisible(fastCommands, fast, pick, customers, targetRate, visibleSeconds, rywFraction);
    }

    const result = {
      benchmark: "query-service",
      seconds_per_run: seconds,
      in_flight: inflight,
      orders: orderCount,
      reads_per_second: {
        get_order_summary_grpc: round(figures.grpc_get_order_summary),
        pg_select_by_primary_key: round(figures.pg_select_by_pk),
        get_order_summary_ratio: ratio(figures.grpc_get_order_summary, figures.pg_select_by_pk),
        list_customer_orders_grpc: round(figures.grpc_list_customer_orders),
        redis_hgetall: round(figures.redis_hgetall),
        list_customer_orders_ratio: ratio(figures.grpc_list_customer_orders, figures.redis_hgetall),
        list_page_orders: 2,
        goal_ratio: 0.5,
        goal_met:
          ratio(figures.grpc_get_order_summary, figures.pg_select_by_pk) >= 0.5 &&
          ratio(figures.grpc_list_customer_orders, figures.redis_hgetall) >= 0.5,
      },
      // The split of that ratio: a canned-reply server on the same gRPC stack (the most any gRPC service reaches from
      // this load process), and the query service against it.
      grpc_ceiling: {
        get_order_summary_canned: round(figures.grpc_canned_get_order_summary),
        list_customer_orders_canned: round(figures.grpc_canned_list_customer_orders),
        canned_vs_pg_ratio: ratio(figures.grpc_canned_get_order_summary, figures.pg_select_by_pk),
        canned_vs_hgetall_ratio: ratio(figures.grpc_canned_list_customer_orders, figures.redis_hgetall),
        get_order_summary_vs_canned_ratio: ratio(figures.grpc_get_order_summary, figures.grpc_canned_get_order_summary),
        list_customer_orders_vs_canned_ratio: ratio(
          figures.grpc_list_customer_orders,
          figures.grpc_canned_list_customer_orders,
        ),
      },
      command_to_visible: {
        max_command_rate_per_second: round(maxCommandRate),
        command_rate_per_second: targetRate,
        achieved_rate_per_second: round(visible.commands / visibleSeconds),
        read_your_writes_fraction: rywFraction,
        samples: visible.count,
        failures: visible.failures,
        p50_ms: visible.p50,
        p99_ms: visible.p99,
        max_ms: visible.max,
        goal: "p50 <= 10 ms, p99 <= 50 ms",
      },
    };
    // One JSON object on the last stdout line (scripts/bench.mjs reads it).
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => {});
    for (const service of running.reverse()) await service.stop().catch(() => {});
    await env.cleanup();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
