import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { freePort, startService } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CommandClient,
  commandServiceEntry,
  createOrderRequest,
  orderTotal,
  paymentRequest as pay,
  type StartedCommandService,
  startCommandService,
  uniqueKey,
} from "./command-client.js";

let stack: StartedCommandService;
let client: CommandClient;

beforeAll(async () => {
  stack = await startCommandService();
  ({ client } = stack);
});
afterAll(() => stack?.cleanup());

async function placeOrder(overrides: Record<string, unknown> = {}): Promise<string> {
  const reply = await client.call("CreateOrder", createOrderRequest(overrides));
  return reply.accepted.order_id;
}
const ship = (orderId: string, overrides: Record<string, unknown> = {}) => ({
  idempotency_key: uniqueKey("ship"),
  order_id: orderId,
  carrier: "DHL",
  tracking_number: "JD01",
  ...overrides,
});
const cancel = (orderId: string, overrides: Record<string, unknown> = {}) => ({
  idempotency_key: uniqueKey("cancel"),
  order_id: orderId,
  reason: "changed mind",
  ...overrides,
});

describe("accepted commands", () => {
  it("CreateOrder returns CommandAccepted and the event is in the store with its trace context", async () => {
    const metadata = new grpc.Metadata();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    metadata.set("traceparent", traceparent);
    const request = createOrderRequest();
    const { accepted } = await client.call("CreateOrder", request, metadata);
    expect(accepted.order_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(accepted.command_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(accepted.stream_version).toBe("1");
    expect(Number(accepted.position)).toBeGreaterThan(0);
    expect(accepted.duplicate).toBe(false);

    const { rows } = await stack.db.query(
      "select stream_id, stream_version, position, event_type, data, command_id, traceparent from events where command_id = $1",
      [accepted.command_id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      stream_id: `order-${accepted.order_id}`,
      stream_version: "1",
      position: accepted.position,
      event_type: "OrderPlaced",
      traceparent,
    });
    expect(rows[0].data).toMatchObject({ orderId: accepted.order_id, totalMinor: 3000, currency: "EUR" });
    const keys = await stack.db.query("select command_id from processed_commands where idempotency_key = $1", [
      request.idempotency_key,
    ]);
    expect(keys.rows[0]?.command_id).toBe(accepted.command_id);
  });

  it("an order's life: paid, shipped, with versions counting up", async () => {
    const orderId = await placeOrder();
    const paid = await client.call(
      "UpdatePaymentStatus",
      pay(orderId, "PAYMENT_STATUS_PAID", { expected_version: "1" }),
    );
    expect(paid.accepted).toMatchObject({ order_id: orderId, stream_version: "2", duplicate: false });
    const shipped = await client.call("ShipOrder", ship(orderId));
    expect(shipped.accepted.stream_version).toBe("3");
    expect(BigInt(shipped.accepted.position)).toBeGreaterThan(BigInt(paid.accepted.position));
    const cancelOther = await client.call("CancelOrder", cancel(await placeOrder()));
    expect(cancelOther.accepted.stream_version).toBe("2");
  });
});

describe("duplicates (same key, same request)", () => {
  it("CreateOrder without an order id: the stored result with duplicate = true, no second order", async () => {
    const request = createOrderRequest();
    const first = await client.call("CreateOrder", request);
    const again = await client.call("CreateOrder", request);
    expect(again.accepted).toEqual({ ...first.accepted, duplicate: true });
    const { rows } = await stack.db.query("select count(*)::int as n from events where stream_id = $1", [
      `order-${first.accepted.order_id}`,
    ]);
    expect(rows[0].n).toBe(1);
  });

  it("a retried ShipOrder gets the stored result, not FAILED_PRECONDITION", async () => {
    const orderId = await placeOrder();
    await client.call("UpdatePaymentStatus", pay(orderId, "PAYMENT_STATUS_PAID"));
    const request = ship(orderId);
    const first = await client.call("ShipOrder", request);
    const again = await client.call("ShipOrder", request);
    expect(again.accepted).toEqual({ ...first.accepted, duplicate: true });
  });

  it("20 racing copies of one request: one command, the rest duplicates of it", async () => {
    const orderId = await placeOrder();
    const request = pay(orderId, "PAYMENT_STATUS_AUTHORIZED");
    const replies = await Promise.all(Array.from({ length: 20 }, () => client.call("UpdatePaymentStatus", request)));
    expect(new Set(replies.map((r) => r.accepted.command_id)).size).toBe(1);
    expect(replies.filter((r) => !r.accepted.duplicate)).toHaveLength(1);
    const { rows } = await stack.db.query("select count(*)::int as n from events where stream_id = $1", [
      `order-${orderId}`,
    ]);
    expect(rows[0].n).toBe(2);
  });
});

describe("status codes", () => {
  const long = (n: number) => "x".repeat(n);
  const item = { sku: "SKU-1", quantity: 1, unit_price_minor: "100" };

  it.each([
    ["idempotency_key empty", { idempotency_key: "" }, "idempotency_key"],
    ["idempotency_key of 129 characters", { idempotency_key: long(129) }, "idempotency_key"],
    ["customer_id empty", { customer_id: "" }, "customer_id"],
    ["customer_id of 129 characters", { customer_id: long(129) }, "customer_id"],
    ["customer_id with a control character", { customer_id: "a\u0001b" }, "customer_id"],
    ["currency not three upper-case letters", { currency: "eur" }, "currency"],
    ["no items", { items: [] }, "items"],
    ["101 items", { items: Array.from({ length: 101 }, () => item) }, "items"],
    ["sku empty", { items: [{ ...item, sku: "" }] }, "items[0].sku"],
    ["sku of 65 characters", { items: [{ ...item, sku: long(65) }] }, "items[0].sku"],
    ["quantity 0", { items: [{ ...item, quantity: 0 }] }, "items[0].quantity"],
    ["quantity 10001", { items: [{ ...item, quantity: 10_001 }] }, "items[0].quantity"],
    ["unit_price_minor negative", { items: [{ ...item, unit_price_minor: "-1" }] }, "items[0].unit_price_minor"],
    ["order_id not a UUID", { order_id: "order-1" }, "order_id"],
  ])("CreateOrder with %s is INVALID_ARGUMENT", async (_, overrides, field) => {
    const { code, details } = await client.fail("CreateOrder", createOrderRequest(overrides));
    expect(code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(details).toContain(field);
  });

  it.each([
    ["status UNSPECIFIED", (id: string) => pay(id, "PAYMENT_STATUS_UNSPECIFIED"), "status"],
    ["an unknown status enum value", (id: string) => pay(id, 99), "unknown payment status 99"],
    [
      "payment_reference of 257 characters",
      (id: string) => pay(id, "PAYMENT_STATUS_PAID", { payment_reference: long(257) }),
      "payment_reference",
    ],
    ["order_id not a UUID", () => pay("42", "PAYMENT_STATUS_PAID"), "order_id"],
  ])("UpdatePaymentStatus with %s is INVALID_ARGUMENT", async (_, build, field) => {
    const orderId = await placeOrder();
    const { code, details } = await client.fail("UpdatePaymentStatus", build(orderId));
    expect(code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(details).toContain(field);
  });

  it.each([
    ["carrier of 257 characters", "ShipOrder", (id: string) => ship(id, { carrier: long(257) }), "carrier"],
    [
      "tracking_number with a newline",
      "ShipOrder",
      (id: string) => ship(id, { tracking_number: "a\nb" }),
      "tracking_number",
    ],
    ["reason of 257 characters", "CancelOrder", (id: string) => cancel(id, { reason: long(257) }), "reason"],
    ["order_id empty", "CancelOrder", () => cancel(""), "order_id"],
  ] as const)("%s is INVALID_ARGUMENT", async (_, rpc, build, field) => {
    const orderId = await placeOrder();
    const { code, details } = await client.fail(rpc, build(orderId));
    expect(code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(details).toContain(field);
  });

  it("an unknown order is NOT_FOUND", async () => {
    const missing = randomUUID();
    expect((await client.fail("ShipOrder", ship(missing))).code).toBe(grpc.status.NOT_FOUND);
    expect((await client.fail("UpdatePaymentStatus", pay(missing, "PAYMENT_STATUS_PAID"))).code).toBe(
      grpc.status.NOT_FOUND,
    );
    expect((await client.fail("CancelOrder", cancel(missing))).code).toBe(grpc.status.NOT_FOUND);
    expect((await client.fail("ShipOrder", ship(missing, { expected_version: "2" }))).code).toBe(grpc.status.NOT_FOUND);
  });

  it("an order id that is taken is ALREADY_EXISTS", async () => {
    const orderId = randomUUID();
    await client.call("CreateOrder", createOrderRequest({ order_id: orderId }));
    const { code } = await client.fail("CreateOrder", createOrderRequest({ order_id: orderId }));
    expect(code).toBe(grpc.status.ALREADY_EXISTS);
  });

  it("an idempotency key reused with a different request is ALREADY_EXISTS, also across RPCs", async () => {
    const request = createOrderRequest();
    const { accepted } = await client.call("CreateOrder", request);
    const changed = { ...request, customer_id: "someone-else" };
    expect((await client.fail("CreateOrder", changed)).code).toBe(grpc.status.ALREADY_EXISTS);
    const reused = cancel(accepted.order_id, { idempotency_key: request.idempotency_key });
    expect((await client.fail("CancelOrder", reused)).code).toBe(grpc.status.ALREADY_EXISTS);
  });

  it("an expected_version mismatch is ABORTED", async () => {
    const orderId = await placeOrder();
    const { code } = await client.fail(
      "UpdatePaymentStatus",
      pay(orderId, "PAYMENT_STATUS_PAID", { expected_version: "5" }),
    );
    expect(code).toBe(grpc.status.ABORTED);
    expect((await client.fail("ShipOrder", ship(orderId, { expected_version: "0" }))).code).toBe(grpc.status.ABORTED);
  });

  it("a business rule is FAILED_PRECONDITION (and a refused command leaves no trace)", async () => {
    const orderId = await placeOrder();
    expect((await client.fail("ShipOrder", ship(orderId))).code).toBe(grpc.status.FAILED_PRECONDITION);
    const wrongAmount = pay(orderId, "PAYMENT_STATUS_PAID", { amount_minor: "1" });
    expect((await client.fail("UpdatePaymentStatus", wrongAmount)).code).toBe(grpc.status.FAILED_PRECONDITION);
    // Same key, fixed request: accepted.
    const fixed = { ...wrongAmount, amount_minor: orderTotal };
    expect((await client.call("UpdatePaymentStatus", fixed)).accepted.stream_version).toBe("2");
    const again = pay(orderId, "PAYMENT_STATUS_PAID");
    expect((await client.fail("UpdatePaymentStatus", again)).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await client.fail("UpdatePaymentStatus", pay(orderId, "PAYMENT_STATUS_PENDING"))).code).toBe(
      grpc.status.FAILED_PRECONDITION,
    );
  });

  it("garbage protobuf bytes get an error status and the server keeps serving", async () => {
    const garbage = Buffer.from([0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const code = await new Promise<grpc.status>((resolve) => {
      client.raw.makeUnaryRequest(
        "/orderly.orders.v1.CommandService/CreateOrder",
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        garbage,
        (error) => resolve(error ? (error.code as grpc.status) : grpc.status.OK),
      );
    });
    expect(code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await client.call("CreateOrder", createOrderRequest())).accepted.stream_version).toBe("1");
  });

  it("a request over 1 MiB is RESOURCE_EXHAUSTED and the server keeps serving", async () => {
    const huge = createOrderRequest({ customer_id: "x".repeat(1024 * 1024 + 1) });
    expect((await client.fail("CreateOrder", huge)).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((await client.call("CreateOrder", createOrderRequest())).accepted.stream_version).toBe("1");
  });
});

describe("concurrency", () => {
  it("50 concurrent UpdatePaymentStatus with the same expected_version: exactly one succeeds, 49 ABORTED", async () => {
    const orderId = await placeOrder();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        client.call(
          "UpdatePaymentStatus",
          pay(orderId, i % 2 === 0 ? "PAYMENT_STATUS_PAID" : "PAYMENT_STATUS_AUTHORIZED", { expected_version: "1" }),
        ),
      ),
    );
    const codes = results.map((r) =>
      r.status === "fulfilled" ? grpc.status.OK : (r.reason as grpc.ServiceError).code,
    );
    expect(codes.filter((c) => c === grpc.status.OK)).toHaveLength(1);
    expect(codes.filter((c) => c === grpc.status.ABORTED)).toHaveLength(49);
    const { rows } = await stack.db.query("select max(stream_version)::int as v from events where stream_id = $1", [
      `order-${orderId}`,
    ]);
    expect(rows[0].v).toBe(2);
  });

  it("concurrent commands without expected_version are serialised: the rules see every earlier command", async () => {
    const orderId = await placeOrder();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => client.call("UpdatePaymentStatus", pay(orderId, "PAYMENT_STATUS_PAID"))),
    );
    const codes = results.map((r) =>
      r.status === "fulfilled" ? grpc.status.OK : (r.reason as grpc.ServiceError).code,
    );
    expect(codes.filter((c) => c === grpc.status.OK)).toHaveLength(1);
    expect(codes.filter((c) => c === grpc.status.FAILED_PRECONDITION)).toHaveLength(19);
  });

  it("a concurrent mix over many orders keeps every stream gapless and every accepted command stored", async () => {
    const orderIds = await Promise.all(Array.from({ length: 20 }, () => placeOrder()));
    const calls = orderIds.flatMap((id) => [
      client.call("UpdatePaymentStatus", pay(id, "PAYMENT_STATUS_AUTHORIZED")),
      client.call("UpdatePaymentStatus", pay(id, "PAYMENT_STATUS_PAID")),
      client.call("CancelOrder", cancel(id)),
    ]);
    const results = await Promise.allSettled(calls);
    const accepted = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.accepted] : []));
    for (const r of results) {
      if (r.status === "rejected") expect((r.reason as grpc.ServiceError).code).toBe(grpc.status.FAILED_PRECONDITION);
    }
    const { rows } = await stack.db.query<{ stream_id: string; versions: string[] }>(
      "select stream_id, array_agg(stream_version order by stream_version)::text[] as versions from events where stream_id = any($1) group by stream_id",
      [orderIds.map((id) => `order-${id}`)],
    );
    expect(rows).toHaveLength(20);
    for (const row of rows) expect(row.versions).toEqual(row.versions.map((_, i) => String(i + 1)));
    const total = rows.reduce((n, row) => n + row.versions.length, 0);
    expect(total).toBe(20 + accepted.length);
  });
});

describe("metrics", () => {
  it("counts commands by type and outcome and times them", async () => {
    const text = await (await fetch(stack.metricsUrl)).text();
    expect(text).toMatch(/orderly_commands_total\{command="CreateOrder",outcome="accepted"\} \d+/);
    const aborted = text.match(/orderly_commands_total\{command="UpdatePaymentStatus",outcome="aborted"\} (\d+)/);
    expect(Number(aborted?.[1])).toBeGreaterThanOrEqual(49);
    expect(text).toMatch(/orderly_commands_total\{command="CreateOrder",outcome="duplicate"\} \d+/);
    expect(text).toContain("orderly_command_duration_seconds_bucket");
  });
});

describe("start-up", () => {
  it("refuses bad configuration with a message naming the variable, and exits non-zero", async () => {
    await expect(
      startService({
        name: "command-service-bad-config",
        entry: commandServiceEntry,
        env: { ...stack.env.env, COMMAND_PORT: "not-a-port", METRICS_PORT: "0", LOG_FORMAT: "json" },
        readyLine: /command-service ready/,
      }),
    ).rejects.toThrow(/exited before it was ready \(1\)[\s\S]*COMMAND_PORT=\\"not-a-port\\" is not a TCP port/);
  });

  it("says which Postgres it cannot reach, and exits non-zero", async () => {
    const port = await freePort();
    await expect(
      startService({
        name: "command-service-no-db",
        entry: commandServiceEntry,
        env: {
          ...stack.env.env,
          DATABASE_URL: `postgres://root@127.0.0.1:${port}/orderly_nowhere`,
          COMMAND_PORT: "0",
          METRICS_PORT: "0",
          LOG_FORMAT: "json",
          // It waits for Postgres at start (like the other services) and then gives up naming it.
          ORDERLY_STARTUP_TIMEOUT_MS: "1500",
        },
        readyLine: /command-service ready/,
      }),
    ).rejects.toThrow(
      new RegExp(
        `gave up after \\d+ s waiting for Postgres at postgres://root@127.0.0.1:${port}/orderly_nowhere \\(DATABASE_URL\\)`,
      ),
    );
  });
});
