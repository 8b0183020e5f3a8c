import { ConfigError, ConfigReader, type StackConfig } from "@orderly/observability";

export interface RelayServiceConfig {
  readonly stack: StackConfig;
  readonly metricsPort: number;
  readonly batchSize: number;
  readonly maxInFlight: number;
  readonly pollIntervalMs: number;
  readonly ackTimeoutMs: number;
  readonly lockRetryMs: number;
  readonly shutdownGraceMs: number;
  /** How long the start waits for Postgres and NATS (ORDERLY_STARTUP_TIMEOUT_MS, default 60,000). */
  readonly startupTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

/** Reads and validates the relay's environment; throws one ConfigError naming every bad variable. */
export function readConfig(env: Env): RelayServiceConfig {
  const read = new ConfigReader(env);
  const stack = read.stack();
  const config = {
    metricsPort: read.port("METRICS_PORT", 9403),
    batchSize: read.integer("RELAY_BATCH_SIZE", 1000, 1, 100_000),
    maxInFlight: read.integer("RELAY_MAX_IN_FLIGHT", 4096, 1, 1_000_000),
    pollIntervalMs: read.integer("RELAY_POLL_INTERVAL_MS", 1000, 10, 600_000),
    ackTimeoutMs: read.integer("RELAY_ACK_TIMEOUT_MS", 10_000, 100, 600_000),
    lockRetryMs: read.integer("RELAY_LOCK_RETRY_MS", 500, 10, 60_000),
    shutdownGraceMs: read.integer("RELAY_SHUTDOWN_GRACE_MS", 15_000, 0, 600_000),
    startupTimeoutMs: read.startupTimeoutMs(),
  };
  if (read.problems.length > 0 || stack === undefined) throw new ConfigError(read.problems);
  return { stack, ...config };
}
