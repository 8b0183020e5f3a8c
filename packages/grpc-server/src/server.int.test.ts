import { connect as connectHttp2 } from "node:http2";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import { loadFileDescriptorSetFromBuffer, loadSync } from "@grpc/proto-loader";
import {
  CommandService,
  CreateOrderRequestSchema,
  CreateOrderResponseSchema,
  QueryService,
  WaitForPositionRequestSchema,
  WaitForPositionResponseSchema,
} from "@orderly/contracts";
import {
  AlreadyExistsError,
  BusinessRuleError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  ValidationError,
  VersionConflictError,
} from "@orderly/eventsourcing";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EncodedBatch, grpcServiceDefinition } from "./binding.js";
import type { CallContext } from "./call-context.js";
import { healthService } from "./health.js";
import { findProtoDir } from "./reflection.js";
import { GrpcServer } from "./server.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });

// What the fake handlers saw, for assertions.
const seen = {
  contexts: [] as CallContext[],
  streamFinally: 0,
  produced: 0,
  internalLogged: [] as unknown[],
};

const failures: Record<string, () => Error> = {
  invalid: () => new ValidationError("customer_id", "must not be empty"),
  not_found: () => new NotFoundError("order o-1 not found"),
  already_exists: () => new AlreadyExistsError("order o-1 already exists"),
  key_reused: () => new AlreadyExistsError("key reused"),
  aborted: () => new VersionConflictError("order-1", 3, 4),
  precondition: () => new BusinessRuleError("order is cancelled"),
  unavailable: () => new UnavailableError("database is down"),
  exhausted: () => new ResourceExhaustedError("too many waiters"),
  boom: () => new Error("connection to 10.0.0.1 failed: password=hunter2"),
};

function commandServer(registry: Registry) {
  const server = new GrpcServer({ name: "test", logger, registry });
  server.addService(CommandService, {
    async createOrder(request, ctx) {
      seen.contexts.push(ctx);
      const failure = failures[request.customerId];
      if (failure) throw failure();
      if (request.customerId === "slow") {
        await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
      }
      if (request.customerId === "ignores-signal") {
        // Polls instead: ctx.signal is not made until the test asks for it.
        while (!ctx.aborted) await sleep(5);
        throw new Error("gave up");
      }
      if (request.customerId === "stuck") {
        await sleep(60_000, undefined, { ref: false }); // ignores its signal on purpose
      }
      if (request.customerId === "finish-late") await sleep(300);
      return create(CreateOrderResponseSchema, {
        accepted: {
          orderId: request.orderId || "o-new",
          commandId: request.idempotencyKey,
          streamVersion: 1n,
          position: 7n,
        },
      });
    },
    updatePaymentStatus: () => ({}),
    shipOrder: () => ({}),
    // A plain init object is accepted too.
    cancelOrder: (request) => ({ accepted: { orderId: request.orderId, duplicate: true } }),
  });
  server.addService(QueryService, {
    getOrderSummary(request) {
      if (request.orderId === "missing") throw new NotFoundError(`order ${request.orderId} not found`);
      return { summary: { orderId: request.orderId, customerId: "c-1", totalMinor: 1234n, itemCount: 2 } };
    },
    listCustomerOrders: () => ({}),
    async *waitForPosition(request, ctx) {
      seen.contexts.push(ctx);
      try {
        if (request.minPosition >= 0n) {
          for (let i = 1n; i <= request.minPosition; i++) yield { readModels: [{ readModel: "p", position: i }] };
          return;
        }
        if (request.minPosition === -3n) {
          // Batches of messages already in wire form, an empty one among them, then a plain message.
          const wire = (from: bigint, to: bigint) => {
            const out: Uint8Array[] = [];
            for (let i = from; i <= to; i++)
              out.push(
                toBinary(
                  WaitForPositionResponseSchema,
                  create(WaitForPositionResponseSchema, { readModels: [{ readModel: "b", position: i }] }),
                ),
              );
            return out;
          };
          yield new EncodedBatch(wire(1n, 5n));
          yield new EncodedBatch([]);
          yield new EncodedBatch(wire(6n, 7n));
          yield { readModels: [{ readModel: "p", position: 8n }] };
          return;
        }
        const big = "x".repeat(10_000);
        for (;;) {
          seen.produced++;
          yield { readModels: [{ readModel: big, position: BigInt(seen.produced) }] };
          if (request.minPosition === -2n) await sleep(5, undefined, { signal: ctx.signal });
        }
      } finally {
        seen.streamFinally++;
      }
    },
  });
  return server;
}

// --- clients -------------------------------------------------------------------------------------------------

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function typedClient(service: typeof CommandService | typeof QueryService, port: number): Client {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}

function unary<T>(
  client: Client,
  method: string,
  request: unknown,
  options: grpc.CallOptions & { onCall?: (call: grpc.ClientUnaryCall) => void; metadata?: grpc.Metadata } = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = client[method];
    if (!fn) throw new Error(`no method ${method}`);
    const call = fn.call(
      client,
      request,
      options.metadata ?? new grpc.Metadata(),
      options,
      (error: unknown, value: T) => (error ? reject(error) : resolve(value)),
    ) as grpc.ClientUnaryCall;
    options.onCall?.(call);
  });
}

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}

/** A client that sends whatever bytes it is given. */
function rawClient(path: string, port: number, responseStream = false): Client {
  const identity = (b: Buffer) => b;
  const Ctor = grpc.makeGenericClientConstructor(
    {
      call: {
        path,
        requestStream: false,
        responseStream,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    "Raw",
  );
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}

function collect<T>(stream: grpc.ClientReadableStream<T>): Promise<{ messages: T[]; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    stream.on("data", (m: T) => messages.push(m));
    stream.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on("end", () => resolve({ messages }));
  });
}

function healthClient(port: number): Client {
  const Ctor = grpc.makeClientConstructor(healthService, "Health");
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}

async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Sum of the series of `name` whose labels contain `label`. */
function sum(text: string, name: string, label: string): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(label))
    .reduce((total, line) => total + Number(line.split(" ").pop()), 0);
}

// --- tests ---------------------------------------------------------------------------------------------------

describe("GrpcServer", () => {
  const registry = new Registry();
  let server: GrpcServer;
  let port: number;
  let commands: Client;
  let queries: Client;

  beforeAll(async () => {
    server = commandServer(registry);
    port = await server.listen(0, "127.0.0.1");
    commands = typedClient(CommandService, port);
    queries = typedClient(QueryService, port);
  });
  afterAll(async () => {
    commands?.close();
    queries?.close();
    await server?.shutdown({ graceMs: 1_000 });
  });

  it("serves a unary call with protobuf-es messages, passing metadata, method and the server's deadline cap when the client set none", async () => {
    seen.contexts.length = 0;
    const metadata = new grpc.Metadata();
    metadata.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    const response = await unary<MessageShape<typeof CreateOrderResponseSchema>>(
      commands,
      "createOrder",
      create(CreateOrderRequestSchema, { idempotencyKey: "k-1", orderId: "o-9", customerId: "c-1" }),
      { metadata },
    );
    expect(response.$typeName).toBe("orderly.orders.v1.CreateOrderResponse");
    expect(response.accepted).toMatchObject({ orderId: "o-9", commandId: "k-1", streamVersion: 1n, position: 7n });
    const ctx = seen.contexts[0];
    expect(ctx?.headers.traceparent).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    expect(ctx?.method).toBe("orderly.orders.v1.CommandService/CreateOrder");
    // No client deadline: the server's cap (30 s by default) is the call's deadline.
    expect(ctx?.deadline).toBeGreaterThan(Date.now() + 20_000);
    expect(ctx?.deadline).toBeLessThanOrEqual(Date.now() + 30_000);
    expect(ctx?.signal.aborted).toBe(false);

    const cancelled = await unary<{ accepted?: { duplicate: boolean } }>(commands, "cancelOrder", { orderId: "o-2" });
    expect(cancelled.accepted?.duplicate).toBe(true);
  });

  it("maps every DomainError code to its status, with the message and an orderly-error-code trailer", async () => {
    const expected: [string, grpc.status, string][] = [
      ["invalid", grpc.status.INVALID_ARGUMENT, "invalid_argument"],
      ["not_found", grpc.status.NOT_FOUND, "not_found"],
      ["already_exists", grpc.status.ALREADY_EXISTS, "already_exists"],
      ["aborted", grpc.status.ABORTED, "aborted"],
      ["precondition", grpc.status.FAILED_PRECONDITION, "failed_precondition"],
      ["unavailable", grpc.status.UNAVAILABLE, "unavailable"],
      ["exhausted", grpc.status.RESOURCE_EXHAUSTED, "resource_exhausted"],
    ];
    for (const [customerId, code, errorCode] of expected) {
      const error = await failure(unary(commands, "createOrder", { idempotencyKey: "k", customerId }));
      expect([customerId, error.code]).toEqual([customerId, code]);
      expect(error.details).toBe(failures[customerId]?.().message);
      expect(error.metadata.get("orderly-error-code")).toEqual([errorCode]);
    }
  });

  it("answers INTERNAL with a generic message for anything else, and logs it with the stack", async () => {
    const lines: string[] = [];
    const logged = new GrpcServer({
      name: "logged",
      logger: pino({ level: "info" }, { write: (line: string) => lines.push(line) }),
      reflection: false,
    });
    logged.addService(CommandService, {
      createOrder: () => {
        throw failures.boom?.();
      },
      updatePaymentStatus: () => ({}),
      shipOrder: () => ({}),
      cancelOrder: () => ({}),
    });
    const loggedPort = await logged.listen(0, "127.0.0.1");
    const client = typedClient(CommandService, loggedPort);
    const error = await failure(unary(client, "createOrder", { customerId: "boom" }));
    expect(error.code).toBe(grpc.status.INTERNAL);
    expect(error.details).toBe("internal error");
    expect(error.details).not.toContain("hunter2");
    const entry = JSON.parse(lines.find((l) => l.includes("handler failed")) ?? "{}");
    expect(entry.method).toBe("orderly.orders.v1.CommandService/CreateOrder");
    expect(entry.err.stack).toContain("password=hunter2");
    client.close();
    await logged.shutdown({ graceMs: 1_000 });
  });

  it("answers INVALID_ARGUMENT to bytes that are not the request message, and keeps serving", async () => {
    const raw = rawClient("/orderly.orders.v1.CommandService/CreateOrder", port);
    const garbage = await failure(unary(raw, "call", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])));
    expect(garbage.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(garbage.details).toMatch(/^request is not a valid orderly\.orders\.v1\.CreateOrderRequest: /);
    // Field 1 (idempotency_key, a string) holding invalid UTF-8.
    const badUtf8 = await failure(unary(raw, "call", Buffer.from([0x0a, 0x02, 0xc3, 0x28])));
    expect(badUtf8.code).toBe(grpc.status.INVALID_ARGUMENT);
    const streamRaw = rawClient("/orderly.orders.v1.QueryService/WaitForPosition", port, true);
    const streamed = await collect(
      (streamRaw.call as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from([0x08, 0xff])),
    );
    expect(streamed.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(streamed.error?.details).toContain("orderly.orders.v1.WaitForPositionRequest");
    raw.close();
    streamRaw.close();
    const ok = await unary<{ accepted?: { orderId: string } }>(commands, "createOrder", { orderId: "o-after" });
    expect(ok.accepted?.orderId).toBe("o-after");
  });

  it("rejects a request over 1 MiB with RESOURCE_EXHAUSTED and keeps serving", async () => {
    const justUnder = "k".repeat(1024 * 1024 - 64);
    const ok = await unary<{ accepted?: { commandId: string } }>(commands, "createOrder", {
      idempotencyKey: justUnder,
    });
    expect(ok.accepted?.commandId.length).toBe(justUnder.length);
    const error = await failure(unary(commands, "createOrder", { idempotencyKey: "k".repeat(1024 * 1024 + 1) }));
    expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const after = await unary<{ accepted?: { orderId: string } }>(commands, "createOrder", { orderId: "o-ok" });
    expect(after.accepted?.orderId).toBe("o-ok");
  });

  it("aborts ctx.signal when the client cancels", async () => {
    seen.contexts.length = 0;
    let call: grpc.ClientUnaryCall | undefined;
    const pending = failure(unary(commands, "createOrder", { customerId: "slow" }, { onCall: (c) => (call = c) }));
    const ctx = await eventually(() => seen.contexts[0], "the handler to start");
    expect(ctx.aborted).toBe(false);
    call?.cancel();
    expect((await pending).code).toBe(grpc.status.CANCELLED);
    await eventually(() => ctx.signal.aborted, "the signal to abort");
    expect(ctx.aborted).toBe(true);
    expect((ctx.signal.reason as { status: number }).status).toBe(grpc.status.CANCELLED);
  });

  it("tells a handler that never looked at ctx.signal that its caller gave up (ctx.aborted)", async () => {
    seen.contexts.length = 0;
    let call: grpc.ClientUnaryCall | undefined;
    const pending = failure(
      unary(commands, "createOrder", { customerId: "ignores-signal" }, { onCall: (c) => (call = c) }),
    );
    const ctx = await eventually(() => seen.contexts[0], "the handler to start");
    expect(ctx.aborted).toBe(false);
    call?.cancel();
    expect((await pending).code).toBe(grpc.status.CANCELLED);
    await eventually(() => ctx.aborted, "the call to count as aborted");
    // The signal made afterwards starts aborted, with the same reason.
    expect(ctx.signal.aborted).toBe(true);
    expect((ctx.signal.reason as { status: number }).status).toBe(grpc.status.CANCELLED);
  });

  it("passes the client's deadline to the handler and aborts ctx.signal when it passes", async () => {
    seen.contexts.length = 0;
    const before = Date.now();
    const deadline = before + 2_000;
    const error = await failure(unary(commands, "createOrder", { customerId: "slow" }, { deadline }));
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const ctx = await eventually(() => seen.contexts[0], "the handler to start");
    expect(ctx.deadline).toBeGreaterThanOrEqual(before);
    // The server's deadline is the client's plus the request's transit time: close to it, never before the call.
    expect(ctx.deadline).toBeLessThanOrEqual(deadline + 10_000);
    await eventually(() => ctx.signal.aborted, "the signal to abort");
    // The client's own timer cancels the call at about the same moment the server's deadline passes.
    expect([grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED]).toContain(
      (ctx.signal.reason as { status: number }).status,
    );
  });

  it("ends a call with DEADLINE_EXCEEDED at the grpc-timeout even when the client never cancels", async () => {
    seen.contexts.length = 0;
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    try {
      const body = toBinary(CreateOrderRequestSchema, create(CreateOrderRequestSchema, { customerId: "slow" }));
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      frame.set(body, 5);
      const before = Date.now();
      const request = session.request({
        ":method": "POST",
        ":path": "/orderly.orders.v1.CommandService/CreateOrder",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "300m",
      });
      let status: unknown;
      request.on("response", (headers) => {
        status ??= headers["grpc-status"];
      });
      request.on("trailers", (trailers) => {
        status ??= trailers["grpc-status"];
      });
      request.resume();
      request.end(frame);
      await new Promise((resolve) => request.on("close", resolve));
      expect(status).toBe(String(grpc.status.DEADLINE_EXCEEDED));
      const ctx = await eventually(() => seen.contexts[0], "the handler to start");
      expect(ctx.deadline).toBeGreaterThanOrEqual(before + 300);
      await eventually(() => ctx.signal.aborted, "the signal to abort");
      expect((ctx.signal.reason as { status: number }).status).toBe(grpc.status.DEADLINE_EXCEEDED);
    } finally {
      session.close();
    }
  });

  it("streams from an async generator and ends the call when it returns", async () => {
    const result = await collect(
      (queries.waitForPosition as (r: unknown) => grpc.ClientReadableStream<{ readModels: { position: bigint }[] }>)(
        create(WaitForPositionRequestSchema, { minPosition: 3n }),
      ),
    );
    expect(result.error).toBeUndefined();
    expect(result.messages.map((m) => m.readModels[0]?.position)).toEqual([1n, 2n, 3n]);
  });

  it("writes every message of an EncodedBatch, in order, and counts each as sent", async () => {
    const result = await collect(
      (queries.waitForPosition as (r: unknown) => grpc.ClientReadableStream<{ readModels: { position: bigint }[] }>)(
        create(WaitForPositionRequestSchema, { minPosition: -3n }),
      ),
    );
    expect(result.error).toBeUndefined();
    expect(result.messages.map((m) => m.readModels[0]?.position)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  });

  it("stops pulling from the generator when the client does not read (backpressure)", async () => {
    seen.produced = 0;
    const finallyBefore = seen.streamFinally;
    const stream = (queries.waitForPosition as (r: unknown) => grpc.ClientReadableStream<unknown>)({
      minPosition: -1n,
    });
    let received = 0;
    stream.on("data", () => {
      received++;
      stream.pause();
    });
    stream.on("error", () => {});
    await eventually(() => received > 0, "the first message");
    // Each message is ~10 kB; an unbounded producer would run on forever. Wait for it to stop: no new message for
    // a whole second (the sampler shares the event loop with the producer, so a busy machine slows both).
    let last = -1;
    let stableSamples = 0;
    await eventually(
      () => {
        stableSamples = seen.produced === last ? stableSamples + 1 : 0;
        last = seen.produced;
        return stableSamples >= 10;
      },
      "the producer to stop",
      60_000,
      100,
    );
    expect(seen.produced).toBeLessThan(500);
    // And it stays stopped while the client does not read.
    const stoppedAt = seen.produced;
    await sleep(1_000);
    expect(seen.produced).toBe(stoppedAt);
    stream.cancel();
    await eventually(() => seen.streamFinally > finallyBefore, "the generator's finally block");
  });

  it("ends the generator when the client cancels a stream, and records CANCELLED", async () => {
    const finallyBefore = seen.streamFinally;
    seen.contexts.length = 0;
    const stream = (queries.waitForPosition as (r: unknown) => grpc.ClientReadableStream<unknown>)({
      minPosition: -2n,
    });
    const result = collect(stream);
    await eventually(() => seen.contexts[0], "the handler to start");
    stream.cancel();
    expect((await result).error?.code).toBe(grpc.status.CANCELLED);
    await eventually(() => seen.streamFinally > finallyBefore, "the generator's finally block");
    await eventually(
      async () =>
        (await registry.getSingleMetricAsString("grpc_server_handled_total")).includes('grpc_code="CANCELLED"'),
      "the metric",
    );
    const handled = await registry.getSingleMetricAsString("grpc_server_handled_total");
    expect(handled).toMatch(
      /grpc_server_handled_total\{grpc_service="orderly\.orders\.v1\.QueryService",grpc_method="WaitForPosition",grpc_type="server_stream",grpc_code="CANCELLED"\} [1-9]/,
    );
  });

  it("records started, handled, handling seconds and in-flight per method and code", async () => {
    const text = await registry.metrics();
    expect(text).toMatch(
      /grpc_server_started_total\{grpc_service="orderly\.orders\.v1\.CommandService",grpc_method="CreateOrder",grpc_type="unary"\} \d+/,
    );
    expect(text).toMatch(/grpc_server_handled_total\{[^}]*grpc_method="CreateOrder"[^}]*grpc_code="OK"\} \d+/);
    expect(text).toMatch(
      /grpc_server_handled_total\{[^}]*grpc_method="CreateOrder"[^}]*grpc_code="INVALID_ARGUMENT"\} \d+/,
    );
    expect(text).toMatch(
      /grpc_server_handled_total\{[^}]*grpc_method="CreateOrder"[^}]*grpc_code="DEADLINE_EXCEEDED"\} [1-9]/,
    );
    // Every started call was handled exactly once, with some code.
    const started = sum(text, "grpc_server_started_total", 'grpc_method="CreateOrder"');
    expect(started).toBeGreaterThan(10);
    expect(sum(text, "grpc_server_handled_total", 'grpc_method="CreateOrder"')).toBe(started);
    expect(sum(text, "grpc_server_handling_seconds_count", 'grpc_method="CreateOrder"')).toBe(started);
    expect(text).toMatch(
      /grpc_server_handling_seconds_bucket\{le="0\.005",grpc_service="orderly\.orders\.v1\.CommandService",grpc_method="CreateOrder",grpc_type="unary",grpc_code="OK"\} \d+/,
    );
    expect(text).toMatch(
      /grpc_server_in_flight_calls\{grpc_service="orderly\.orders\.v1\.CommandService",grpc_method="CreateOrder",grpc_type="unary"\} 0/,
    );
  });

  it("serves grpc.health.v1 Check and Watch to a standard client", async () => {
    const health = healthClient(port);
    expect(await unary(health, "check", { service: "" })).toEqual({ status: "SERVING" });
    expect(await unary(health, "check", { service: "orderly.orders.v1.CommandService" })).toEqual({
      status: "SERVING",
    });
    expect((await failure(unary(health, "check", { service: "nope.Service" }))).code).toBe(grpc.status.NOT_FOUND);

    const statuses: string[] = [];
    const watch = (health.watch as (r: unknown) => grpc.ClientReadableStream<{ status: string }>)({ service: "" });
    watch.on("data", (m: { status: string }) => statuses.push(m.status));
    watch.on("error", () => {});
    await eventually(() => statuses.length === 1, "the first status");
    server.setServing(false);
    await eventually(() => statuses.length === 2, "NOT_SERVING");
    expect(await unary(health, "check", { service: "orderly.orders.v1.QueryService" })).toEqual({
      status: "NOT_SERVING",
    });
    server.setServing(true);
    await eventually(() => statuses.length === 3, "SERVING again");
    expect(statuses).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    server.setServing(false, "orderly.orders.v1.QueryService");
    expect(await unary(health, "check", { service: "orderly.orders.v1.QueryService" })).toEqual({
      status: "NOT_SERVING",
    });
    expect(await unary(health, "check", { service: "" })).toEqual({ status: "SERVING" });
    server.setServing(true);
    watch.cancel();
    health.close();
  });

  it("serves reflection v1 and v1alpha; a client with only reflection can call GetOrderSummary", async () => {
    const reflectionRoot = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "../proto");
    for (const version of ["v1", "v1alpha"]) {
      const pkg = grpc.loadPackageDefinition(
        loadSync(`grpc/reflection/${version}/reflection.proto`, { includeDirs: [reflectionRoot] }),
      ) as unknown as { grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> } };
      const Reflection = pkg.grpc.reflection[version]?.ServerReflection;
      if (!Reflection) throw new Error(`no reflection ${version}`);
      const reflection = new Reflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
      const ask = (request: object) =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          const call = (
            reflection.serverReflectionInfo as () => grpc.ClientDuplexStream<object, Record<string, unknown>>
          )();
          call.on("data", (response: Record<string, unknown>) => {
            resolve(response);
            call.end();
          });
          call.on("error", reject);
          call.write(request);
        });

      const listed = (await ask({ listServices: "*" })) as { listServicesResponse: { service: { name: string }[] } };
      expect(listed.listServicesResponse.service.map((s) => s.name).sort()).toEqual([
        "grpc.health.v1.Health",
        "orderly.orders.v1.CommandService",
        "orderly.orders.v1.QueryService",
      ]);

      const files = (await ask({ fileContainingSymbol: "orderly.orders.v1.QueryService" })) as {
        fileDescriptorResponse: { fileDescriptorProto: Buffer[] };
      };
      const descriptors = files.fileDescriptorResponse.fileDescriptorProto;
      expect(descriptors.length).toBeGreaterThan(0);
      // A FileDescriptorSet is `repeated FileDescriptorProto file = 1`.
      const set = new BinaryWriter();
      for (const file of descriptors) set.tag(1, WireType.LengthDelimited).bytes(file);
      const dynamic = grpc.loadPackageDefinition(
        loadFileDescriptorSetFromBuffer(Buffer.from(set.finish())),
      ) as unknown as {
        orderly: { orders: { v1: { QueryService: grpc.ServiceClientConstructor } } };
      };
      const client = new dynamic.orderly.orders.v1.QueryService(
        `127.0.0.1:${port}`,
        grpc.credentials.createInsecure(),
      ) as unknown as Client;
      const answer = await unary<{ summary: { orderId: string; totalMinor: unknown; itemCount: number } }>(
        client,
        "GetOrderSummary",
        { orderId: `o-${version}` },
      );
      expect(answer.summary.orderId).toBe(`o-${version}`);
      expect(String(answer.summary.totalMinor)).toBe("1234");
      expect(answer.summary.itemCount).toBe(2);
      expect((await failure(unary(client, "GetOrderSummary", { orderId: "missing" }))).code).toBe(
        grpc.status.NOT_FOUND,
      );
      client.close();
      reflection.close();
    }
  });

  it("works with an independent @grpc/proto-loader client reading proto/", async () => {
    const pkg = grpc.loadPackageDefinition(
      loadSync("orderly/orders/v1/commands.proto", { includeDirs: [findProtoDir()] }),
    ) as unknown as { orderly: { orders: { v1: { CommandService: grpc.ServiceClientConstructor } } } };
    const client = new pkg.orderly.orders.v1.CommandService(
      `127.0.0.1:${port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as Client;
    const response = await unary<{ accepted: { orderId: string; position: unknown } }>(client, "CreateOrder", {
      idempotencyKey: "k-pl",
      orderId: "o-pl",
    });
    expect(response.accepted.orderId).toBe("o-pl");
    expect(String(response.accepted.position)).toBe("7");
    client.close();
  });
});

describe("GrpcServer.shutdown", () => {
  it("goes NOT_SERVING, ends Watch and server streams, lets unary calls finish, then refuses calls", async () => {
    const server = commandServer(new Registry());
    const port = await server.listen(0, "127.0.0.1");
    const commands = typedClient(CommandService, port);
    const queries = typedClient(QueryService, port);
    const health = healthClient(port);
    const statuses: string[] = [];
    const watch = (health.watch as (r: unknown) => grpc.ClientReadableStream<{ status: string }>)({ service: "" });
    watch.on("data", (m: { status: string }) => statuses.push(m.status));
    const watchEnded = collect(watch);
    await eventually(() => statuses.length === 1, "the first health status");
    const stream = collect(
      (queries.waitForPosition as (r: unknown) => grpc.ClientReadableStream<unknown>)({ minPosition: -2n }),
    );
    seen.contexts.length = 0;
    const inFlight = unary<{ accepted?: { orderId: string } }>(commands, "createOrder", {
      customerId: "finish-late",
      orderId: "o-late",
    });
    await eventually(() => seen.contexts.some((c) => c.method.endsWith("CreateOrder")), "the unary call to start");

    await server.shutdown({ graceMs: 10_000 });

    expect((await inFlight).accepted?.orderId).toBe("o-late");
    expect((await stream).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await watchEnded).error).toBeUndefined();
    expect(statuses).toEqual(["SERVING", "NOT_SERVING"]);
    expect((await failure(unary(commands, "createOrder", {}, { deadline: Date.now() + 5_000 }))).code).toBe(
      grpc.status.UNAVAILABLE,
    );
    commands.close();
    queries.close();
    health.close();
  });

  it("cancels calls still running after the grace period", async () => {
    const server = commandServer(new Registry());
    const port = await server.listen(0, "127.0.0.1");
    const commands = typedClient(CommandService, port);
    seen.contexts.length = 0;
    const stuck = failure(unary(commands, "createOrder", { customerId: "stuck" }));
    await eventually(() => seen.contexts[0], "the handler to start");
    await server.shutdown({ graceMs: 200 });
    expect([grpc.status.CANCELLED, grpc.status.UNAVAILABLE]).toContain((await stuck).code);
    commands.close();
  });
});
