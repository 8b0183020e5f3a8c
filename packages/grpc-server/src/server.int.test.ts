import { connect as connectHttp2 } from "node:http2";
import { create, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { CommandService, CreateOrderRequestSchema, type CreateOrderResponseSchema } from "@orderly/contracts";
import pino from "pino";
import { describe, expect, it } from "vitest";
import {
  collect,
  eventually,
  failure,
  failures,
  rawClient,
  seen,
  serveCommandsAndQueries,
  sum,
  typedClient,
  unary,
} from "./server.fixture.js";
import { GrpcServer } from "./server.js";

// Unary calls: messages, metadata, status mapping, bad requests, cancellation, deadlines, and their metrics.
describe("GrpcServer", () => {
  const served = serveCommandsAndQueries();

  it("serves a unary call with protobuf-es messages, passing metadata, method and the server's deadline cap when the client set none", async () => {
    seen.contexts.length = 0;
    const metadata = new grpc.Metadata();
    metadata.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    const response = await unary<MessageShape<typeof CreateOrderResponseSchema>>(
      served.commands,
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

    const cancelled = await unary<{ accepted?: { duplicate: boolean } }>(served.commands, "cancelOrder", {
      orderId: "o-2",
    });
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
      const error = await failure(unary(served.commands, "createOrder", { idempotencyKey: "k", customerId }));
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
    const raw = rawClient("/orderly.orders.v1.CommandService/CreateOrder", served.port);
    const garbage = await failure(unary(raw, "call", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])));
    expect(garbage.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(garbage.details).toMatch(/^request is not a valid orderly\.orders\.v1\.CreateOrderRequest: /);
    // Field 1 (idempotency_key, a string) holding invalid UTF-8.
    const badUtf8 = await failure(unary(raw, "call", Buffer.from([0x0a, 0x02, 0xc3, 0x28])));
    expect(badUtf8.code).toBe(grpc.status.INVALID_ARGUMENT);
    const streamRaw = rawClient("/orderly.orders.v1.QueryService/WaitForPosition", served.port, true);
    const streamed = await collect(
      (streamRaw.call as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from([0x08, 0xff])),
    );
    expect(streamed.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(streamed.error?.details).toContain("orderly.orders.v1.WaitForPositionRequest");
    raw.close();
    streamRaw.close();
    const ok = await unary<{ accepted?: { orderId: string } }>(served.commands, "createOrder", { orderId: "o-after" });
    expect(ok.accepted?.orderId).toBe("o-after");
  });

  it("rejects a request over 1 MiB with RESOURCE_EXHAUSTED and keeps serving", async () => {
    const justUnder = "k".repeat(1024 * 1024 - 64);
    const ok = await unary<{ accepted?: { commandId: string } }>(served.commands, "createOrder", {
      idempotencyKey: justUnder,
    });
    expect(ok.accepted?.commandId.length).toBe(justUnder.length);
    const error = await failure(unary(served.commands, "createOrder", { idempotencyKey: "k".repeat(1024 * 1024 + 1) }));
    expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const after = await unary<{ accepted?: { orderId: string } }>(served.commands, "createOrder", { orderId: "o-ok" });
    expect(after.accepted?.orderId).toBe("o-ok");
  });

  it("aborts ctx.signal when the client cancels", async () => {
    seen.contexts.length = 0;
    let call: grpc.ClientUnaryCall | undefined;
    const pending = failure(
      unary(served.commands, "createOrder", { customerId: "slow" }, { onCall: (c) => (call = c) }),
    );
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
      unary(served.commands, "createOrder", { customerId: "ignores-signal" }, { onCall: (c) => (call = c) }),
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
    const error = await failure(unary(served.commands, "createOrder", { customerId: "slow" }, { deadline }));
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
    const session = connectHttp2(`http://127.0.0.1:${served.port}`);
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

  it("records started, handled, handling seconds and in-flight per method and code", async () => {
    const text = await served.registry.metrics();
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
});
