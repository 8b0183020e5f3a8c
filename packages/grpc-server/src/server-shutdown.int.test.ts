import * as grpc from "@grpc/grpc-js";
import { CommandService, QueryService } from "@orderly/contracts";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import {
  collect,
  commandServer,
  eventually,
  failure,
  healthClient,
  seen,
  typedClient,
  unary,
} from "./server.fixture.js";

// Graceful shutdown: health goes NOT_SERVING, streams end, unary calls finish, stragglers are cancelled.
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
