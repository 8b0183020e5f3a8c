import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createOrderlySession } from "@orderly/client";
import type { RunningService, TestEnvironment } from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StackPorts, startTestStack, stopTestStack } from "../ops/support.js";
import { clientSecurity, secureClientEnv, serviceUrl } from "../secure-mode.js";

// The polyglot promise, tested: examples/python and examples/go (stubs from stock protoc, Debian's gRPC packages) run
// against a running stack and assert what they get (read-your-writes, SubscribeEvents resumed from a saved position,
// a JetStream durable consumer decoding EventEnvelope). .ci/run installs the Debian packages; without them (a
// developer machine) each test is skipped and says which packages to install. In secure mode (ORDERLY_E2E_SECURE=1)
// the stack serves TLS + mTLS + JWT and the examples get the client settings they read: ORDERLY_CA_FILE,
// ORDERLY_CLIENT_CERT, ORDERLY_CLIENT_KEY and ORDERLY_TOKEN_FILE.

const run = promisify(execFile);
const examples = fileURLToPath(new URL("../../../examples/", import.meta.url));
const onPath = (tool: string) => ["/usr/bin", "/usr/local/bin"].some((dir) => existsSync(`${dir}/${tool}`));
const hasPython =
  onPath("protoc") && onPath("grpc_python_plugin") && existsSync("/usr/lib/python3/dist-packages/grpc/__init__.py");
const hasGo =
  onPath("protoc") &&
  onPath("go") &&
  onPath("protoc-gen-go-grpc") &&
  existsSync("/usr/share/gocode/src/github.com/nats-io/nats.go") &&
  existsSync("/usr/share/gocode/src/google.golang.org/grpc");

describe("the examples beyond TypeScript, against a running stack", () => {
  let env: TestEnvironment;
  let stack: RunningService | undefined;
  let ports: StackPorts;
  let exampleEnv: Record<string, string>;
  beforeAll(async () => {
    ({ env, stack, ports } = await startTestStack());
    exampleEnv = {
      ...(process.env as Record<string, string>),
      ...env.env,
      COMMAND_PORT: String(ports.COMMAND_PORT),
      QUERY_PORT: String(ports.QUERY_PORT),
      ...secureClientEnv(),
    };
  }, 180_000);
  afterAll(() => stopTestStack(env, stack));

  it("typescript: a session reads its own writes without bookkeeping, waits with WaitForPosition and follows SubscribeEvents from a saved position", async () => {
    const session = createOrderlySession({
      command: { baseUrl: serviceUrl(ports.COMMAND_PORT), ...clientSecurity() },
      query: { baseUrl: serviceUrl(ports.QUERY_PORT), ...clientSecurity() },
    });
    const customerId = `ts-${Date.now()}`;
    const placed = await session.commands.createOrder({
      idempotencyKey: `ts-${customerId}`,
      customerId,
      currency: "EUR",
      items: [{ sku: "mug", quantity: 1, unitPriceMinor: 900n }],
    });
    const orderId = placed.accepted?.orderId ?? "";
    expect(session.position).toBe(placed.accepted?.position);
    // No min_position given: the session sends its own, so the order is there at once (no NOT_FOUND race).
    const summary = await session.queries.getOrderSummary({ orderId });
    expect(summary.summary?.orderId).toBe(orderId);
    expect(summary.consistency?.position).toBeGreaterThanOrEqual(session.position);
    const listed = await session.queries.listCustomerOrders({ customerId });
    expect(listed.orders.map((o) => o.orderId)).toEqual([orderId]);
    const progress = [];
    for await (const message of session.waitForPosition()) progress.push(message);
    expect(progress.at(-1)?.reached).toBe(true);

    // Follow from just before the order, stop at it; resume from the saved position for the next one.
    const first = session.subscribeEvents({ fromPosition: session.position - 1n });
    for await (const event of first) if (event.orderId === orderId) break;
    expect(first.position).toBe(session.position);
    expect(first.skippedUnknown).toBe(0);
    const saved = first.position;
    const second = await session.commands.cancelOrder({
      idempotencyKey: `ts-cancel-${customerId}`,
      orderId,
      reason: "test",
    });
    const resumed = session.subscribeEvents({ fromPosition: saved });
    const seen: bigint[] = [];
    for await (const event of resumed) {
      seen.push(event.position);
      if (event.event.case === "orderCancelled") break;
    }
    expect(seen).toEqual([saved + 1n]);
    expect(seen.at(-1)).toBe(second.accepted?.position);
    expect(session.position).toBe(second.accepted?.position);
  }, 60_000);

  it.skipIf(!hasPython)(
    "python (needs Debian's protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf): places and reads an order with read-your-writes, follows SubscribeEvents from a saved position and resumes exactly",
    async () => {
      const { stdout } = await run("bash", [`${examples}python/run.sh`], { env: exampleEnv, timeout: 120_000 });
      expect(stdout).toMatch(/consumer run 1: \{"from": \d+, "last": \d+/);
      expect(stdout).toMatch(/"skipped_unknown": 0/);
      expect(stdout).toContain("python example: OK");
    },
    150_000,
  );

  it.skipIf(!hasGo)(
    "go (needs Debian's golang-go protoc-gen-go-grpc golang-google-grpc-dev golang-github-nats-io-go-nats-dev): the same, plus a JetStream durable consumer decoding EventEnvelope",
    async () => {
      const { stdout } = await run("bash", [`${examples}go/run.sh`], { env: exampleEnv, timeout: 240_000 });
      expect(stdout).toMatch(/client: order [0-9a-f-]{36} at position \d+, read back with min_position/);
      expect(stdout).toMatch(/consumer: from \d+ to \d+, resumed from \d+ to \d+ \(skipped unknown types: 0\)/);
      expect(stdout).toMatch(/jetstream: durable go_example_\d+ decoded OrderPlaced of [0-9a-f-]{36} at position \d+/);
      expect(stdout).toContain("go example: OK");
    },
    270_000,
  );

  // Last: the projectors stop at a type they cannot apply (docs/events.md), which the examples above must not meet.
  it("typescript: subscribeEvents skips and counts an event type the stubs do not know, and its position moves past it", async () => {
    const session = createOrderlySession({
      command: { baseUrl: serviceUrl(ports.COMMAND_PORT), ...clientSecurity() },
      query: { baseUrl: serviceUrl(ports.QUERY_PORT), ...clientSecurity() },
    });
    const client = new pg.Client({ connectionString: env.databaseUrl });
    await client.connect();
    let unknownAt = 0n;
    try {
      await client.query("begin");
      const next = await client.query("update global_position set last = last + 1 where id = 1 returning last");
      unknownAt = BigInt(next.rows[0].last);
      const id = randomUUID();
      await client.query(
        `insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id,
           correlation_id, causation_id, occurred_at)
         values ($1, $2, $3, 1, 'OrderGiftWrapped', '{}', $2, $2, $2, now())`,
        [unknownAt, id, `order-${id}`],
      );
      await client.query("commit");
    } finally {
      await client.end();
    }
    const placed = await session.commands.createOrder({
      idempotencyKey: `ts-after-unknown-${Date.now()}`,
      customerId: "ts-unknown",
      currency: "EUR",
      items: [{ sku: "card", quantity: 1, unitPriceMinor: 100n }],
    });
    const events = session.subscribeEvents({ fromPosition: unknownAt - 1n });
    const seen: bigint[] = [];
    for await (const event of events) {
      seen.push(event.position);
      if (event.position === placed.accepted?.position) break;
    }
    expect(seen).toEqual([unknownAt + 1n]);
    expect(events.skippedUnknown).toBe(1);
    expect(events.position).toBe(unknownAt + 1n);
  }, 60_000);
});
