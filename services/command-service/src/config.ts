import { readServingConfig, type ServingConfig } from "@orderly/grpc-server";
import { ConfigReader, type NatsLinkOptions } from "@orderly/observability";

/** Serving: COMMAND_HOST, ORDERLY_TLS_*, ORDERLY_JWT_*, ORDERLY_PROTO_DIR (ServingConfig). */
export interface CommandServiceConfig extends ServingConfig {
  readonly databaseUrl: string;
  /** NATS, for the continuity gate's look at the stream's tail (NATS_URL); appends never wait for it. */
  readonly natsUrl: string;
  /** How to connect to it: servers, credentials, TLS (NATS_URL, NATS_CREDS_FILE, NATS_TLS_*). */
  readonly nats: NatsLinkOptions;
  /** ORDERLY_NAMESPACE: names the stream `<NS>_ORDERS`. */
  readonly namespace: string;
  /** gRPC port (COMMAND_PORT, default 50051). */
  readonly commandPort: number;
  /** /metrics, /healthz, /readyz (METRICS_PORT, default 9401). */
  readonly metricsPort: number;
  /** Postgres connections (PG_POOL_MAX, default 10). */
  readonly poolMax: number;
  /** Orders whose state is cached (COMMAND_CACHE_SIZE, default 10000; 0 = off). */
  readonly cacheSize: number;
  /** How long in-flight calls may take to finish on SIGTERM (SHUTDOWN_GRACE_MS, default 10000). */
  readonly shutdownGraceMs: number;
  /**
   * Bound on each event-store statement, waiting for a connection included (PG_STATEMENT_TIMEOUT_MS, default 7000):
   * past it the command fails UNAVAILABLE and the group-commit writer goes on.
   */
  readonly statementTimeoutMs: number;
  /** Group-commit batches sent to Postgres at once (APPEND_CONCURRENT_BATCHES, default 1). */
  readonly appendConcurrentBatches: number;
  /**
   * How long to wait at start for Postgres (ORDERLY_STARTUP_TIMEOUT_MS, default 60000; 0 = one try), NOT_SERVING
   * meanwhile. NATS is not waited for: appends never depend on it (the continuity gate is fail-open, ADR 0010).
   */
  readonly startupTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

/** Reads and validates the configuration; throws one ConfigError naming every bad variable. */
export function readConfig(env: Env): CommandServiceConfig {
  const read = new ConfigReader(env);
  const stack = read.stack();
  const serving = readServingConfig(env, "COMMAND_HOST", read.problems);
  const config: CommandServiceConfig = {
    databaseUrl: stack?.databaseUrl ?? "",
    natsUrl: stack?.natsUrl ?? "",
    nats: stack?.nats ?? { servers: [] },
    namespace: stack?.namespace ?? "",
    commandPort: stack?.commandPort ?? 0,
    ...serving,
    metricsPort: read.port("METRICS_PORT", 9401),
    poolMax: read.integer("PG_POOL_MAX", 10, 1, 1000),
    cacheSize: read.integer("COMMAND_CACHE_SIZE", 10_000, 0, 10_000_000),
    shutdownGraceMs: read.integer("SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    statementTimeoutMs: read.integer("PG_STATEMENT_TIMEOUT_MS", 7_000, 100, 600_000),
    appendConcurrentBatches: read.integer("APPEND_CONCURRENT_BATCHES", 1, 1, 16),
    startupTimeoutMs: read.startupTimeoutMs(),
  };
  read.check();
  return config;
}
