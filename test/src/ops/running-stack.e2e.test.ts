import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createCommandClient, createQueryClient, withTraceparent } from "@orderly/client";
import { eventually, type RunningService, type TestEnvironment } from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientSecurity, secureMode, serviceUrl } from "../secure-mode.js";
import {
  alive,
  callThroughReflection,
  healthCheck,
  metricValue,
  reflect,
  type StackPorts,
  scrape,
  services,
  stackLogs,
  startTestStack,
  stopTestStack,
} from "./support.js";

// `pnpm start` (services/stack) run as a process: every service up and reported, health on both gRPC ports; then
// (issue 7 "See it") after a small load, every process's /metrics holds the named metrics with exact counts and a
// client that has only reflection can call the query service; finally SIGTERM stops every child.

const ORDERS = 5;
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** The JSON log lines of one child of the stack (`[name] {...}`). */
function childLogs(output: string, name: string): Record<string, unknown>[] {
  const prefix = `[${name}] `;
  return output
    .split("\n")
    .filter((line) => line.startsWith(`${prefix}{`))
    .map((line) => {
      try {
        return JSON.parse(line.slice(prefix.length)) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}

describe("the running stack (pnpm start)", () => {
  let env: TestEnvironment;
  let stack: RunningService;
  let ports: StackPorts;
  const orders: { orderId: string; customerId: string; position: bigint }[] = [];

  beforeAll(async () => {
    ({ env, stack, ports } = await startTestStack());
    const commands = createCommandClient({
      baseUrl: serviceUrl(ports.COMMAND_PORT),
      timeoutMs: 30_000,
      ...clientSecurity(),
    });
    for (let i = 0; i < ORDERS; i++) {
      const request = {
        idempotencyKey: `obs-${i}-${randomUUID()}`,
        orderId: randomUUID(),
        customerId: `customer-${i}`,
        currency: "EUR",
        items: [{ sku: "sku-1", quantity: 2, unitPriceMinor: 1250n }],
      };
      const response = await withTraceparent(TRACEPARENT, () => commands.createOrder(request));
      orders.push({
        orderId: request.orderId,
        customerId: request.customerId,
        position: response.accepted?.position ?? 0n,
      });
      // One duplicate: accepted again, no new event.
      if (i === 0) expect((await commands.createOrder(request)).accepted?.duplicate).toBe(true);
    }
  });
  afterAll(() => stopTestStack(env, stack));

  it("starts every service with prefixed output and reports where each endpoint is", async () => {
    const logs = stackLogs(stack.output());
    const started = logs.filter((l) => typeof l.msg === "string" && l.msg.startsWith("started "));
    expect(started.map((l) => l.service)).toEqual(services);
    expect(started.map((l) => l.childPid as number).every(alive)).toBe(true);

    // Every child's lines carry its prefix.
    for (const name of services) expect(stack.output()).toContain(`[${name}] `);

    // Where each endpoint is.
    const up = logs.find((l) => typeof l.msg === "string" && l.msg.startsWith("Orderly is up"));
    expect(up?.services).toEqual(services);
    expect(stack.output()).toContain(
      `command-service: gRPC 127.0.0.1:${ports.COMMAND_PORT} · metrics http://127.0.0.1:${ports.COMMAND_SERVICE_METRICS_PORT}/metrics`,
    );
    expect(stack.output()).toContain(
      `query-service: gRPC 127.0.0.1:${ports.QUERY_PORT} · metrics http://127.0.0.1:${ports.QUERY_SERVICE_METRICS_PORT}/metrics`,
    );
    expect(stack.output()).toContain(
      `projector-redis: metrics http://127.0.0.1:${ports.PROJECTOR_REDIS_METRICS_PORT}/metrics`,
    );
  });

  it("warns once per gRPC service, and only once, that auth and TLS are off (dev mode); not when they are on", () => {
    const warned = services.flatMap((name) =>
      childLogs(stack.output(), name)
        .filter((l) => typeof l.msg === "string" && l.msg.startsWith("auth and TLS are off"))
        .map(() => name),
    );
    // ORDERLY_E2E_SECURE=1 starts the stack with TLS, mTLS and JWT on: no service may claim they are off.
    expect(warned.sort()).toEqual(secureMode ? [] : ["command-service", "query-service"]);
  });

  it("has every process ready and serving metrics, and gRPC health SERVING on both ports", async () => {
    for (const port of [
      ports.COMMAND_SERVICE_METRICS_PORT,
      ports.QUERY_SERVICE_METRICS_PORT,
      ports.OUTBOX_RELAY_METRICS_PORT,
      ports.PROJECTOR_POSTGRES_METRICS_PORT,
      ports.PROJECTOR_REDIS_METRICS_PORT,
    ]) {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      await ready.text();
      expect([port, ready.status]).toEqual([port, 200]);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain("process_cpu_user_seconds_total");
    }

    expect(await healthCheck(ports.COMMAND_PORT, "")).toBe("SERVING");
    expect(await healthCheck(ports.COMMAND_PORT, "orderly.orders.v1.CommandService")).toBe("SERVING");
    expect(await healthCheck(ports.QUERY_PORT, "")).toBe("SERVING");
    expect(await healthCheck(ports.QUERY_PORT, "orderly.orders.v1.QueryService")).toBe("SERVING");
  });

  it("reads its own writes through the query service", async () => {
    const queries = createQueryClient({
      baseUrl: serviceUrl(ports.QUERY_PORT),
      timeoutMs: 30_000,
      ...clientSecurity(),
    });
    for (const order of orders) {
      const response = await queries.getOrderSummary({ orderId: order.orderId, minPosition: order.position });
      expect(response.summary?.customerId).toBe(order.customerId);
      expect(response.summary?.totalMinor).toBe(2500n);
    }
  });

  it("exposes gRPC server metrics by method and code on the command and query services", async () => {
    const command = await scrape(ports.COMMAND_SERVICE_METRICS_PORT);
    const createOk = { grpc_service: "orderly.orders.v1.CommandService", grpc_method: "CreateOrder", grpc_code: "OK" };
    expect(metricValue(command, "grpc_server_started_total", { grpc_method: "CreateOrder" })).toBe(ORDERS + 1);
    expect(metricValue(command, "grpc_server_handled_total", createOk)).toBe(ORDERS + 1);
    expect(metricValue(command, "grpc_server_handling_seconds_count", createOk)).toBe(ORDERS + 1);
    const seconds = metricValue(command, "grpc_server_handling_seconds_sum", createOk) ?? -1;
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(60 * (ORDERS + 1));
    expect(metricValue(command, "grpc_server_in_flight_calls", { grpc_method: "CreateOrder" })).toBe(0);
    expect(metricValue(command, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);

    // The read-your-writes test made one GetOrderSummary per order (it runs first in this file).
    const query = await scrape(ports.QUERY_SERVICE_METRICS_PORT);
    expect(metricValue(query, "grpc_server_handled_total", { grpc_method: "GetOrderSummary", grpc_code: "OK" })).toBe(
      ORDERS,
    );
  });

  it("shows the relay and both projectors carrying exactly the events written", async () => {
    await eventually(
      async () =>
        metricValue(await scrape(ports.OUTBOX_RELAY_METRICS_PORT), "outbox_relay_events_published_total") === ORDERS,
      "the relay to publish every event",
      60_000,
    );
    for (const port of [ports.PROJECTOR_POSTGRES_METRICS_PORT, ports.PROJECTOR_REDIS_METRICS_PORT]) {
      await eventually(
        async () => metricValue(await scrape(port), "projection_events_applied_total") === ORDERS,
        `the projector on :${port} to apply every event`,
        60_000,
      );
      const text = await scrape(port);
      const lag = metricValue(text, "projection_lag_seconds");
      expect(lag).toBeDefined();
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(metricValue(text, "projection_checkpoint_position")).toBeGreaterThanOrEqual(ORDERS);
    }
  });

  it("lists its services over reflection, and a client with only reflection can call GetOrderSummary", async () => {
    type Listed = { listServicesResponse: { service: { name: string }[] } };
    const queryServices = (await reflect<Listed>(ports.QUERY_PORT, { listServices: "*" })).listServicesResponse.service;
    expect(queryServices.map((s) => s.name).sort()).toEqual([
      "grpc.health.v1.Health",
      "orderly.orders.v1.EventService",
      "orderly.orders.v1.QueryService",
    ]);
    const commandServices = (await reflect<Listed>(ports.COMMAND_PORT, { listServices: "*" })).listServicesResponse
      .service;
    expect(commandServices.map((s) => s.name).sort()).toEqual([
      "grpc.health.v1.Health",
      "orderly.orders.v1.CommandService",
    ]);

    const order = orders[0];
    if (!order) throw new Error("no order");
    const response = await callThroughReflection<{ summary: { orderId: string; customerId: string } }>(
      ports.QUERY_PORT,
      "orderly.orders.v1.QueryService",
      "GetOrderSummary",
      { orderId: order.orderId, minPosition: String(order.position) },
    );
    expect(response.summary.orderId).toBe(order.orderId);
    expect(response.summary.customerId).toBe(order.customerId);
  });

  it("carries a command's traceparent into its event row, the event's NATS headers and the projectors' logs", async () => {
    const db = new pg.Client({ connectionString: env.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ position: string; traceparent: string | null }>(
        "select position::text, traceparent from events order by position",
      );
      expect(rows.map((r) => r.traceparent)).toEqual(Array(ORDERS).fill(TRACEPARENT));
    } finally {
      await db.end();
    }
    const nc = await connect({ servers: env.natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      for (let seq = 1; seq <= ORDERS; seq++) {
        const message = await jsm.streams.getMessage(`${env.namespace.toUpperCase()}_ORDERS`, { seq });
        expect(message?.header?.get("traceparent")).toBe(TRACEPARENT);
      }
    } finally {
      await nc.close();
    }
    // Each projector logs the batches it committed with traced events: every event of ours is in one of them.
    const last = Number(orders[orders.length - 1]?.position ?? 0n);
    for (const [service, projection] of [
      ["projector-postgres", "order_summaries"],
      ["projector-redis", "customer_orders"],
    ] as const) {
      await eventually(
        () => {
          const lines = childLogs(stack.output(), service).filter(
            (l) => l.msg === "applied traced events" && l.projection === projection,
          );
          const covered = (position: number) =>
            lines.some(
              (l) =>
                (l.from as number) <= position &&
                position <= (l.to as number) &&
                (l.traceparents as string[]).includes(TRACEPARENT) &&
                (l.traceIds as string[]).includes(TRACEPARENT.split("-")[1] as string),
            );
          return lines.every((l) => l.level === 30) && orders.every((o) => covered(Number(o.position)));
        },
        `${service} to log the traced batches up to position ${last}`,
        30_000,
      );
    }
  });

  it("stops every service on SIGTERM and exits 0", async () => {
    const pids = stackLogs(stack.output())
      .filter((l) => typeof l.msg === "string" && l.msg.startsWith("started "))
      .map((l) => l.childPid as number);
    expect(pids.every(alive)).toBe(true);
    expect(await stack.stop("SIGTERM", 60_000)).toBe(0);
    await eventually(() => pids.every((pid) => !alive(pid)), "every child to exit", 30_000);
    const stopped = stackLogs(stack.output()).filter((l) => typeof l.msg === "string" && l.msg.endsWith(" stopped"));
    expect(stopped.map((l) => l.service).sort()).toEqual([...services].sort());
  });
});
