import { Code, ConnectError } from "@connectrpc/connect";
import { CommandService, QueryService } from "@orderly/contracts";
import { UnavailableError, ValidationError } from "@orderly/eventsourcing";
import { type CallContext, GrpcServer } from "@orderly/grpc-server";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createCommandClient, createQueryClient } from "./clients.js";
import { withTraceparent } from "./trace.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// Each handler fails with UNAVAILABLE `unavailableLeft` times, then answers.
let unavailableLeft = 0;
let attempts = 0;
let contexts: CallContext[] = [];

/** The error `call` failed with, as a ConnectError. */
async function failure(call: Promise<unknown>): Promise<ConnectError> {
  return ConnectError.from(await call.catch((e: unknown) => e));
}

/** `call` fails with `code` (and `rawMessage` when given) after `calls` attempts in all. */
async function expectFailure(call: Promise<unknown>, code: Code, calls: number, rawMessage?: string): Promise<void> {
  const error = await failure(call);
  expect(error.code).toBe(code);
  if (rawMessage !== undefined) expect(error.rawMessage).toBe(rawMessage);
  expect(attempts).toBe(calls);
}

function answerOrFail(ctx: CallContext): void {
  attempts++;
  contexts.push(ctx);
  if (unavailableLeft > 0) {
    unavailableLeft--;
    throw new UnavailableError("database is restarting");
  }
}

describe("Orderly clients against a GrpcServer", () => {
  // The server's deadline cap (30 s by default) is raised so that the client's own 60 s timeout is what arrives.
  const server = new GrpcServer({
    name: "client-test",
    logger: pino({ level: "silent" }),
    reflection: false,
    maxDeadlineMs: 120_000,
  });
  let baseUrl = "";

  beforeAll(async () => {
    server.addService(CommandService, {
      createOrder(request, ctx) {
        answerOrFail(ctx);
        if (request.customerId === "") throw new ValidationError("customer_id", "must not be empty");
        return { accepted: { orderId: request.orderId, commandId: request.idempotencyKey, position: 42n } };
      },
      async shipOrder(_request, ctx) {
        answerOrFail(ctx);
        await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
        return {};
      },
      updatePaymentStatus: () => ({}),
      cancelOrder: () => ({}),
    });
    server.addService(QueryService, {
      getOrderSummary(request, ctx) {
        answerOrFail(ctx);
        return { summary: { orderId: request.orderId, totalMinor: 990n } };
      },
      listCustomerOrders: () => ({}),
      async *waitForPosition(request, ctx) {
        answerOrFail(ctx);
        for (let p = 1n; p <= request.minPosition; p++)
          yield { readModels: [{ readModel: "order_summaries", position: p }] };
      },
    });
    const port = await server.listen(0, "127.0.0.1");
    baseUrl = `http://127.0.0.1:${port}`;
  });
  afterAll(() => server.shutdown({ graceMs: 1_000 }));
  beforeEach(() => {
    unavailableLeft = 0;
    attempts = 0;
    contexts = [];
  });

  it("makes typed calls (int64 as bigint) with a default 5 s deadline", async () => {
    const commands = createCommandClient({ baseUrl });
    const before = Date.now();
    const response = await commands.createOrder({ idempotencyKey: "k-1", orderId: "o-1", customerId: "c-1" });
    expect(response.accepted?.orderId).toBe("o-1");
    expect(response.accepted?.position).toBe(42n);
    const deadline = contexts[0]?.deadline ?? 0;
    // The server's deadline is the client's (sent + 5 s) plus the request's transit.
    expect(deadline).toBeGreaterThanOrEqual(before + 4_990);
    expect(deadline).toBeLessThan(before + 5_000 + 30_000);

    const queries = createQueryClient({ baseUrl, timeoutMs: 60_000 });
    const summary = await queries.getOrderSummary({ orderId: "o-1" });
    expect(summary.summary?.totalMinor).toBe(990n);
    expect(contexts[1]?.deadline).toBeGreaterThanOrEqual(before + 59_990);
  });

  it("fails with DEADLINE_EXCEEDED when the deadline passes", async () => {
    const commands = createCommandClient({ baseUrl, timeoutMs: 1_500 });
    expect((await failure(commands.shipOrder({ idempotencyKey: "k", orderId: "o" }))).code).toBe(Code.DeadlineExceeded);
    await expect.poll(() => contexts[0]?.signal.aborted, { timeout: 20_000 }).toBe(true);
  });

  it("retries UNAVAILABLE for a command with an idempotency key, with backoff", async () => {
    unavailableLeft = 2;
    const commands = createCommandClient({ baseUrl, retry: { initialBackoffMs: 10 } });
    const response = await commands.createOrder({ idempotencyKey: "k-2", orderId: "o-2", customerId: "c" });
    expect(response.accepted?.orderId).toBe("o-2");
    expect(attempts).toBe(3);
  });

  it("retries UNAVAILABLE for queries", async () => {
    unavailableLeft = 3;
    const queries = createQueryClient({ baseUrl, retry: { initialBackoffMs: 10 } });
    expect((await queries.getOrderSummary({ orderId: "o-3" })).summary?.orderId).toBe("o-3");
    expect(attempts).toBe(4);
  });

  it("gives up after maxAttempts with the last UNAVAILABLE", async () => {
    unavailableLeft = 10;
    const queries = createQueryClient({ baseUrl, retry: { initialBackoffMs: 10, maxAttempts: 3 } });
    await expectFailure(queries.getOrderSummary({ orderId: "o" }), Code.Unavailable, 3, "database is restarting");
  });

  it("never retries a command without an idempotency key", async () => {
    unavailableLeft = 1;
    const commands = createCommandClient({ baseUrl, retry: { initialBackoffMs: 10 } });
    await expectFailure(commands.createOrder({ orderId: "o", customerId: "c" }), Code.Unavailable, 1);
  });

  it("never retries other codes", async () => {
    const commands = createCommandClient({ baseUrl, retry: { initialBackoffMs: 10 } });
    const invalid = commands.createOrder({ idempotencyKey: "k" });
    await expectFailure(invalid, Code.InvalidArgument, 1, "customer_id: must not be empty");
  });

  it("does not retry when retry is off", async () => {
    unavailableLeft = 1;
    const queries = createQueryClient({ baseUrl, retry: false });
    await expectFailure(queries.getOrderSummary({ orderId: "o" }), Code.Unavailable, 1);
  });

  it("propagates the caller's traceparent, on every attempt and on streams", async () => {
    unavailableLeft = 1;
    const commands = createCommandClient({ baseUrl, retry: { initialBackoffMs: 10 } });
    await withTraceparent(TRACEPARENT, () => commands.createOrder({ idempotencyKey: "k", customerId: "c" }));
    expect(contexts.map((c) => c.headers.traceparent)).toEqual([TRACEPARENT, TRACEPARENT]);

    const queries = createQueryClient({ baseUrl });
    const positions: bigint[] = [];
    await withTraceparent(TRACEPARENT, async () => {
      for await (const message of queries.waitForPosition({ minPosition: 2n })) {
        positions.push(message.readModels[0]?.position ?? -1n);
      }
    });
    expect(positions).toEqual([1n, 2n]);
    expect(contexts[2]?.headers.traceparent).toBe(TRACEPARENT);

    await commands.createOrder({ idempotencyKey: "k", customerId: "c" });
    expect(contexts[3]?.headers.traceparent).toBeUndefined();

    const explicit = createCommandClient({ baseUrl, traceparent: () => TRACEPARENT });
    await explicit.createOrder({ idempotencyKey: "k", customerId: "c" });
    expect(contexts[4]?.headers.traceparent).toBe(TRACEPARENT);
  });

  it("keeps a traceparent header the call sets itself, and drops a malformed one from the context", async () => {
    const commands = createCommandClient({ baseUrl });
    const own = "00-11111111111111111111111111111111-2222222222222222-01";
    await withTraceparent(TRACEPARENT, () =>
      commands.createOrder({ idempotencyKey: "k", customerId: "c" }, { headers: { traceparent: own } }),
    );
    await withTraceparent("garbage", () => commands.createOrder({ idempotencyKey: "k", customerId: "c" }));
    expect(contexts.map((c) => c.headers.traceparent)).toEqual([own, undefined]);
  });
});
