import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { createTestEnvironment, eventually, startTcpProxy, type TcpProxy } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthCheck, healthWatch } from "../ops/support.js";
import {
  type CommandClient,
  createOrderRequest,
  paymentRequest as pay,
  type StartedCommandService,
  startCommandService,
} from "./command-client.js";

// The command service's Postgres goes away (a proxy in front of the shared server is cut) and comes back.

let proxy: TcpProxy;
let stack: StartedCommandService;
let client: CommandClient;

beforeAll(async () => {
  const env = await createTestEnvironment();
  const database = new URL(env.databaseUrl);
  proxy = await startTcpProxy({ host: database.hostname, port: Number(database.port || 5432) });
  stack = await startCommandService({
    env,
    serviceEnv: { DATABASE_URL: proxy.url(env.databaseUrl), PG_STATEMENT_TIMEOUT_MS: "1000" },
  });
  ({ client } = stack);
});
afterAll(async () => {
  await stack?.cleanup();
  await proxy?.close();
});

const grpcPort = () => Number(stack.address.split(":")[1]);
const ready = async () => (await fetch(stack.metricsUrl.replace("/metrics", "/readyz"))).status === 200;
const service = "orderly.orders.v1.CommandService";

/** Check (overall, then the service's) and /readyz all say `status`, the overall Check within 15 s. */
async function expectHealth(status: "SERVING" | "NOT_SERVING", why: string): Promise<void> {
  await eventually(async () => (await healthCheck(grpcPort(), "")) === status, `Check ${status} ${why}`, 15_000);
  expect(await healthCheck(grpcPort(), service)).toBe(status);
  expect(await ready()).toBe(status === "SERVING");
}

describe("command service while Postgres is unreachable", () => {
  it("health (Check, Watch, /readyz) turns NOT_SERVING while Postgres is down and SERVING when it is back", async () => {
    expect(await healthCheck(grpcPort(), "")).toBe("SERVING");
    const watches = ["", service].map((name) => healthWatch(grpcPort(), name));
    try {
      await eventually(() => watches.every((w) => w.statuses.length === 1), "the first Watch status");
      await proxy.down();
      await expectHealth("NOT_SERVING", "without Postgres");

      await proxy.up();
      await expectHealth("SERVING", "with Postgres back");
      await eventually(() => watches.every((w) => w.statuses.length === 3), "Watch to see both changes", 5_000);
      for (const watch of watches) expect(watch.statuses).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    } finally {
      for (const watch of watches) watch.close();
    }
  });

  it("a hung Postgres connection is NOT_SERVING too, until it answers again", async () => {
    proxy.freeze();
    await eventually(
      async () => (await healthCheck(grpcPort(), "")) === "NOT_SERVING",
      "NOT_SERVING with a silent Postgres",
      15_000,
    );
    await proxy.up();
    await eventually(async () => (await healthCheck(grpcPort(), "")) === "SERVING", "SERVING again", 15_000);
  });

  it("UNAVAILABLE for commands that read the stream and for appends; accepted again once Postgres is back", async () => {
    const { accepted } = await client.call("CreateOrder", createOrderRequest());
    await proxy.down();
    // An order this process has not seen: the stream must be read first.
    expect((await client.fail("UpdatePaymentStatus", pay(randomUUID()))).code).toBe(grpc.status.UNAVAILABLE);
    const retried = pay(accepted.order_id);
    expect((await client.fail("UpdatePaymentStatus", retried)).code).toBe(grpc.status.UNAVAILABLE);
    expect((await client.fail("CreateOrder", createOrderRequest())).code).toBe(grpc.status.UNAVAILABLE);

    await proxy.up();
    const paid = await client.call("UpdatePaymentStatus", retried);
    expect(paid.accepted).toMatchObject({ order_id: accepted.order_id, stream_version: "2", duplicate: false });
    expect((await client.fail("UpdatePaymentStatus", pay(randomUUID()))).code).toBe(grpc.status.NOT_FOUND);
  });

  it("a hung connection: the command is UNAVAILABLE within PG_STATEMENT_TIMEOUT_MS and later commands go through", async () => {
    const { accepted } = await client.call("CreateOrder", createOrderRequest());
    proxy.freeze();
    const started = Date.now();
    const stalled = await Promise.all([
      client.fail("CreateOrder", createOrderRequest()),
      client.fail("UpdatePaymentStatus", pay(randomUUID())),
    ]);
    for (const { code } of stalled) expect(code).toBe(grpc.status.UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(5_000);

    await proxy.up();
    const paid = await client.call("UpdatePaymentStatus", pay(accepted.order_id));
    expect(paid.accepted.stream_version).toBe("2");
    expect((await client.call("CreateOrder", createOrderRequest())).accepted.stream_version).toBe("1");
  });
});
