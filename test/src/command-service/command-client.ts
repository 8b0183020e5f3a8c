import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import {
  createTestEnvironment,
  freePort,
  type RunningService,
  startService,
  type TestEnvironment,
} from "@orderly/testing";
import pg from "pg";
import { grpcCredentials } from "../secure-mode.js";

// A second, independent client: @grpc/grpc-js + proto-loader straight from the repo's .proto files (include path
// proto/ only), talking to the built command service started as a process.

export const protoDir = fileURLToPath(new URL("../../../proto", import.meta.url));
export const commandServiceEntry = fileURLToPath(
  new URL("../../../services/command-service/dist/main.js", import.meta.url),
);

const definition = protoLoader.loadSync(["orderly/orders/v1/commands.proto"], {
  includeDirs: [protoDir],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  orderly: { orders: { v1: { CommandService: grpc.ServiceClientConstructor } } };
};
export const CommandServiceClient = loaded.orderly.orders.v1.CommandService;

export interface CommandAccepted {
  command_id: string;
  order_id: string;
  stream_version: string;
  position: string;
  duplicate: boolean;
}
export interface Reply {
  accepted: CommandAccepted;
}

export type Rpc = "CreateOrder" | "UpdatePaymentStatus" | "ShipOrder" | "CancelOrder";

export interface CommandClient {
  readonly raw: grpc.Client;
  call(rpc: Rpc, request: Record<string, unknown>, metadata?: grpc.Metadata): Promise<Reply>;
  /** Resolves with the error's status code (and details) of a call that must fail. */
  fail(rpc: Rpc, request: Record<string, unknown>): Promise<{ code: grpc.status; details: string }>;
  close(): void;
}

export function commandClient(address: string): CommandClient {
  const client = new CommandServiceClient(address, grpcCredentials(), {
    "grpc.max_send_message_length": 8 * 1024 * 1024,
  });
  const call = (rpc: Rpc, request: Record<string, unknown>, metadata = new grpc.Metadata()) =>
    new Promise<Reply>((resolve, reject) => {
      type Unary = (
        request: unknown,
        metadata: grpc.Metadata,
        options: grpc.CallOptions,
        callback: (error: grpc.ServiceError | null, reply?: Reply) => void,
      ) => void;
      const method = (client as unknown as Record<string, Unary | undefined>)[rpc];
      if (method === undefined) throw new Error(`no method ${rpc}`);
      method.call(
        client,
        request,
        metadata,
        { deadline: Date.now() + 60_000 },
        (error: grpc.ServiceError | null, reply?: Reply) => (error ? reject(error) : resolve(reply as Reply)),
      );
    });
  return {
    raw: client,
    call,
    async fail(rpc, request) {
      try {
        const reply = await call(rpc, request);
        throw new Error(`${rpc} succeeded but should have failed: ${JSON.stringify(reply)}`);
      } catch (error) {
        const e = error as grpc.ServiceError;
        if (typeof e.code !== "number") throw error;
        return { code: e.code, details: e.details };
      }
    },
    close: () => client.close(),
  };
}

export interface StartedCommandService {
  readonly env: TestEnvironment;
  readonly service: RunningService;
  readonly address: string;
  readonly metricsUrl: string;
  readonly db: pg.Pool;
  /** A client of the service (closed by `cleanup`). */
  readonly client: CommandClient;
  restart(): Promise<RunningService>;
  cleanup(): Promise<void>;
}

/** The command service's environment in `env`'s namespace, on loopback `commandPort`, metrics on `metricsPort`. */
export function commandServiceEnv(env: TestEnvironment, commandPort: number, metricsPort: number) {
  return {
    ...env.env,
    COMMAND_PORT: String(commandPort),
    COMMAND_HOST: "127.0.0.1",
    METRICS_PORT: String(metricsPort),
    LOG_FORMAT: "json",
  };
}

/**
 * A fresh database (or `options.env`), the command service on free ports, and a direct Postgres pool for checking
 * the store. `options.serviceEnv` is added to the service's environment (e.g. a DATABASE_URL through a proxy).
 */
export async function startCommandService(
  options: { env?: TestEnvironment; serviceEnv?: Record<string, string> } = {},
): Promise<StartedCommandService> {
  const env = options.env ?? (await createTestEnvironment());
  const commandPort = await freePort();
  const metricsPort = await freePort();
  const start = () =>
    startService({
      name: "command-service",
      entry: commandServiceEntry,
      env: {
        ...commandServiceEnv(env, commandPort, metricsPort),
        // A busy CI machine must not turn a graceful stop into a forced one.
        SHUTDOWN_GRACE_MS: "30000",
        ...options.serviceEnv,
      },
      readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
      readyTimeoutMs: 60_000,
    });
  let service = await start();
  const db = new pg.Pool({ connectionString: env.databaseUrl, max: 2 });
  const client = commandClient(`127.0.0.1:${commandPort}`);
  const started: StartedCommandService = {
    env,
    get service() {
      return service;
    },
    address: `127.0.0.1:${commandPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    db,
    client,
    async restart() {
      service = await start();
      return service;
    },
    async cleanup() {
      client.close();
      await service.stop();
      await db.end();
      await env.cleanup();
    },
  };
  return started;
}

let counter = 0;
export const uniqueKey = (label: string) => `${label}-${process.pid}-${Date.now()}-${++counter}`;

export const createOrderRequest = (overrides: Record<string, unknown> = {}) => ({
  idempotency_key: uniqueKey("create"),
  customer_id: "customer-e2e",
  currency: "EUR",
  items: [
    { sku: "SKU-1", quantity: 2, unit_price_minor: "1250" },
    { sku: "SKU-2", quantity: 1, unit_price_minor: "500" },
  ],
  ...overrides,
});
/** 2 × 1250 + 500 */
export const orderTotal = "3000";

/** UpdatePaymentStatus of the whole `orderTotal`. */
export const paymentRequest = (
  orderId: string,
  status: string | number = "PAYMENT_STATUS_PAID",
  overrides: Record<string, unknown> = {},
) => ({
  idempotency_key: uniqueKey("pay"),
  order_id: orderId,
  status,
  amount_minor: orderTotal,
  payment_reference: "psp-1",
  ...overrides,
});
