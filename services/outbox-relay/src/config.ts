import {
  ConfigError,
  problemCollector,
  readInteger,
  readPort,
  readStackConfig,
  readStartupTimeoutMs,
  type StackConfig,
} from "@orderly/observability";

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
  const problems: string[] = [];
  const collect = problemCollector(problems);
  const stack = collect(() => readStackConfig(env), undefined);
  const config = {
    metricsPort: collect(() => readPort(env, "METRICS_PORT", 9403), 9403),
    batchSize: readInteger(env, "RELAY_BATCH_SIZE", 1000, 1, 100_000, problems),
    maxInFlight: readInteger(env, "RELAY_MAX_IN_FLIGHT", 4096, 1, 1_000_000, problems),
    pollIntervalMs: readInteger(env, "RELAY_POLL_INTERVAL_MS", 1000, 10, 600_000, problems),
    ackTimeoutMs: readInteger(env, "RELAY_ACK_TIMEOUT_MS", 10_000, 100, 600_000, problems),
    lockRetryMs: readInteger(env, "RELAY_LOCK_RETRY_MS", 500, 10, 60_000, problems),
    shutdownGraceMs: readInteger(env, "RELAY_SHUTDOWN_GRACE_MS", 15_000, 0, 600_000, problems),
    startupTimeoutMs: collect(() => readStartupTimeoutMs(env), 0),
  };
  if (problems.length > 0 || stack === undefined) throw new ConfigError(problems);
  return { stack, ...config };
}
