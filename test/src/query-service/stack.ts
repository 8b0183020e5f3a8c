import { randomUUID } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { freePort, type RunningService, startService, type TestEnvironment, type TestServers } from "@orderly/testing";
import { grpcCredentials } from "../secure-mode.js";
import { stackEnvironment } from "../stack-environment.js";

// The whole pipeline as processes (command-service → outbox-relay → projectors → query-service) in one test
// namespace, and plain @grpc/grpc-js + proto-loader clients (independent of our own TypeScript stack).

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export type ServiceName =
  | "command-service"
  | "outbox-relay"
  | "projector-postgres"
  | "projector-redis"
  | "query-service";

export interface Stack {
  readonly env: TestEnvironment;
  readonly services: Map<ServiceName, RunningService>;
  readonly ports: { command: number; query: number; metrics: Record<ServiceName, number> };
  readonly commands: Client;
  readonly queries: Client;
  start(name: ServiceName, extraEnv?: Record<string, string>): Promise<RunningService>;
  stop(): Promise<void>;
}

export interface Client {
  unary<T = Record<string, unknown>>(
    method: string,
    request: Record<string, unknown>,
    options?: { deadlineMs?: number; headers?: Record<string, string> },
  ): Promise<T>;
  stream(
    method: string,
    request: Record<string, unknown>,
    options?: { deadlineMs?: number },
  ): grpc.ClientReadableStream<Record<string, unknown>>;
  close(): void;
}

export interface CallError extends Error {
  code: grpc.status;
  details: string;
}

const order: ServiceName[] = [
  "command-service",
  "outbox-relay",
  "projector-postgres",
  "projector-redis",
  "query-service",
];

export interface StackOptions {
  /** The query service's extra environment (a function: from the test environment, e.g. its database's name). */
  readonly queryEnv?: Record<string, string> | ((env: TestEnvironment) => Record<string, string>);
  /** Servers of the test's own instead of the shared ones. */
  readonly servers?: TestServers;
  /** Extra environment of every service (e.g. OTEL_EXPORTER_OTLP_ENDPOINT). */
  readonly env?: Record<string, string>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const env = await stackEnvironment(options.servers);
  const queryEnv = typeof options.queryEnv === "function" ? options.queryEnv(env) : (options.queryEnv ?? {});
  const services = new Map<ServiceName, RunningService>();
  const metrics = {} as Record<ServiceName, number>;
  for (const name of order) metrics[name] = await freePort();
  const ports = { command: await freePort(), query: await freePort(), metrics };

  const start = async (name: ServiceName, extraEnv: Record<string, string> = {}) => {
    const service = await startService({
      name,
      entry: serviceEntry(name),
      env: {
        ...stackServiceEnv(env, ports, metrics[name]),
        ...options.env,
        ...(name === "query-service" ? queryEnv : {}),
        ...extraEnv,
      },
      readyUrl: `http://127.0.0.1:${metrics[name]}/readyz`,
      readyTimeoutMs: 60_000,
    });
    services.set(name, service);
    return service;
  };

  const stack: Stack = {
    env,
    services,
    ports,
    commands: undefined as unknown as Client,
    queries: undefined as unknown as Client,
    start,
    async stop() {
      stack.commands?.close();
      stack.queries?.close();
      for (const name of [...order].reverse()) await services.get(name)?.stop();
      await env.cleanup();
    },
  };
  try {
    for (const name of order) await start(name);
    const loaded = await loadServices();
    Object.assign(stack, {
      commands: client(loaded.CommandService, ports.command),
      queries: client(loaded.QueryService, ports.query),
    });
    return stack;
  } catch (error) {
    for (const service of services.values()) await service.kill();
    await env.cleanup();
    throw error;
  }
}

async function loadServices() {
  const definition = await protoLoader.load(["orderly/orders/v1/commands.proto", "orderly/orders/v1/queries.proto"], {
    includeDirs: [join(root, "proto")],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    orderly: { orders: { v1: Record<string, grpc.ServiceClientConstructor> } };
  };
  return loaded.orderly.orders.v1 as {
    CommandService: grpc.ServiceClientConstructor;
    QueryService: grpc.ServiceClientConstructor;
  };
}

/** A proto-loader client of `service` on 127.0.0.1:`port`. */
export async function createClient(service: "CommandService" | "QueryService", port: number): Promise<Client> {
  return client((await loadServices())[service], port);
}

/** A service's environment in `env`'s namespace: the stack's gRPC ports, its own metrics port, JSON logs. */
export function stackServiceEnv(
  env: TestEnvironment,
  ports: { readonly command: number; readonly query: number },
  metricsPort: number,
): Record<string, string> {
  return {
    ...env.env,
    COMMAND_PORT: String(ports.command),
    QUERY_PORT: String(ports.query),
    METRICS_PORT: String(metricsPort),
    LOG_FORMAT: "json",
  };
}

/** The built entry point of a service. */
export const serviceEntry = (name: string): string => join(root, "services", name, "dist/main.js");

function client(Constructor: grpc.ServiceClientConstructor, port: number): Client {
  const c = new Constructor(`127.0.0.1:${port}`, grpcCredentials()) as unknown as Record<
    string,
    (...args: unknown[]) => unknown
  > &
    grpc.Client;
  const deadline = (ms: number | undefined) => ({ deadline: Date.now() + (ms ?? 30_000) });
  return {
    unary<T>(
      method: string,
      request: Record<string, unknown>,
      options: { deadlineMs?: number; headers?: Record<string, string> } = {},
    ) {
      return new Promise<T>((resolveCall, reject) => {
        const fn = c[method] as (...args: unknown[]) => void;
        const metadata = new grpc.Metadata();
        for (const [key, value] of Object.entries(options.headers ?? {})) metadata.set(key, value);
        fn.call(c, request, metadata, deadline(options.deadlineMs), (error: grpc.ServiceError | null, response: T) =>
          error ? reject(error) : resolveCall(response),
        );
      });
    },
    stream(method: string, request: Record<string, unknown>, options: { deadlineMs?: number } = {}) {
      const fn = c[method] as (...args: unknown[]) => grpc.ClientReadableStream<Record<string, unknown>>;
      return fn.call(c, request, new grpc.Metadata(), deadline(options.deadlineMs));
    },
    close: () => c.close(),
  };
}

export interface Accepted {
  command_id: string;
  order_id: string;
  stream_version: string;
  position: string;
  duplicate: boolean;
}

export async function createOrder(
  stack: Stack,
  customerId: string,
  items = [{ sku: "SKU-1", quantity: 2, unit_price_minor: "1250" }],
): Promise<Accepted> {
  const response = await stack.commands.unary<{ accepted: Accepted }>("CreateOrder", {
    idempotency_key: randomUUID(),
    customer_id: customerId,
    currency: "EUR",
    items,
  });
  return response.accepted;
}

export async function payOrder(stack: Stack, orderId: string, amountMinor: string): Promise<Accepted> {
  const response = await stack.commands.unary<{ accepted: Accepted }>("UpdatePaymentStatus", {
    idempotency_key: randomUUID(),
    order_id: orderId,
    status: "PAYMENT_STATUS_PAID",
    amount_minor: amountMinor,
    payment_reference: `ref-${orderId}`,
  });
  return response.accepted;
}

/** The gRPC status code of a failed call (or "ok"). */
export async function statusOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (error) {
    return grpc.status[(error as CallError).code] ?? String(error);
  }
}

export async function metricsText(stack: Stack, name: ServiceName): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${stack.ports.metrics[name]}/metrics`);
  return response.text();
}

/** The sum of a metric's samples whose line matches `filter` (e.g. a label). */
export function metricValue(text: string, name: string, filter = ""): number {
  return text
    .split("\n")
    .filter(
      (line) =>
        line.startsWith(name) && (line[name.length] === " " || line[name.length] === "{") && line.includes(filter),
    )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}
