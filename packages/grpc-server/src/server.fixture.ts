import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  CommandService,
  CreateOrderResponseSchema,
  QueryService,
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
import { afterAll, beforeAll } from "vitest";
import { EncodedBatch, grpcServiceDefinition } from "./binding.js";
import type { CallContext } from "./call-context.js";
import { healthService } from "./health.js";
import { GrpcServer } from "./server.js";

export const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });

// What the fake handlers saw, for assertions.
export const seen = {
  contexts: [] as CallContext[],
  streamFinally: 0,
  produced: 0,
  internalLogged: [] as unknown[],
};

export const failures: Record<string, () => Error> = {
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

export function commandServer(registry: Registry) {
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

export type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function typedClient(service: typeof CommandService | typeof QueryService, port: number): Client {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}

export function unary<T>(
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

export async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}

/** A client that sends whatever bytes it is given. */
export function rawClient(path: string, port: number, responseStream = false): Client {
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

export function collect<T>(
  stream: grpc.ClientReadableStream<T>,
): Promise<{ messages: T[]; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    stream.on("data", (m: T) => messages.push(m));
    stream.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on("end", () => resolve({ messages }));
  });
}

export function healthClient(port: number): Client {
  const Ctor = grpc.makeClientConstructor(healthService, "Health");
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}

export async function eventually<T>(
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
export function sum(text: string, name: string, label: string): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(label))
    .reduce((total, line) => total + Number(line.split(" ").pop()), 0);
}

/** The running server of a describe block and its clients (set in beforeAll). */
export interface Served {
  registry: Registry;
  server: GrpcServer;
  port: number;
  commands: Client;
  queries: Client;
}

/** Serves commandServer on a free port for the tests of the describe block it is called in, then shuts it down. */
export function serveCommandsAndQueries(): Served {
  const served = { registry: new Registry() } as Served;
  beforeAll(async () => {
    served.server = commandServer(served.registry);
    served.port = await served.server.listen(0, "127.0.0.1");
    served.commands = typedClient(CommandService, served.port);
    served.queries = typedClient(QueryService, served.port);
  });
  afterAll(async () => {
    served.commands?.close();
    served.queries?.close();
    await served.server?.shutdown({ graceMs: 1_000 });
  });
  return served;
}
