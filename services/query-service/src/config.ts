import { readServingConfig, type ServingConfig } from "@orderly/grpc-server";
import { ConfigError, ConfigReader, type StackConfig, withDefaultUser } from "@orderly/observability";

/** Serving: QUERY_HOST, ORDERLY_TLS_*, ORDERLY_JWT_*, ORDERLY_PROTO_DIR (ServingConfig). */
export interface QueryServiceConfig extends ServingConfig {
  readonly stack: StackConfig;
  /**
   * QUERY_DATABASE_URL: a Postgres streaming replica of DATABASE_URL's server that serves `order_summaries` reads and
   * their checkpoint (min_position waits for the replica's own applied checkpoint). One server, not a balancer over
   * several replicas: a read must not land on a replica behind the one whose checkpoint it waited for. Unset: reads go
   * to DATABASE_URL.
   */
  readonly queryDatabaseUrl: string | undefined;
  /** gRPC port (QUERY_PORT, default 50052; 0 = any free port). */
  readonly grpcPort: number;
  /** /metrics, /healthz, /readyz (METRICS_PORT, default 9402). */
  readonly metricsPort: number;
  /** Read-your-writes wait budget (QUERY_MAX_WAIT_MS, default 500). */
  readonly maxWaitMs: number;
  /** Longest WaitForPosition stream (QUERY_STREAM_MAX_MS, default 30,000). */
  readonly streamMaxMs: number;
  /** Concurrent waiters, waits and streams together (QUERY_MAX_WAITERS, default 10,000). */
  readonly maxWaiters: number;
  /** HMAC key of page tokens (QUERY_PAGE_TOKEN_SECRET, >= 16 bytes); random per process when unset. */
  readonly pageTokenSecret: string | undefined;
  /** Coalesce concurrent GetOrderSummary reads into one query (QUERY_BATCH_READS, default true). */
  readonly batchReads: boolean;
  /**
   * Bound on each Postgres query and Redis command (QUERY_READ_TIMEOUT_MS, default 2,000): a server that stops
   * answering makes reads UNAVAILABLE after this long, and the service NOT_SERVING, instead of calls that hang.
   */
  readonly readTimeoutMs: number;
  /**
   * SubscribeEvents: how long a consumer may read nothing while the server has more for it before its stream ends with
   * RESOURCE_EXHAUSTED (QUERY_EVENTS_STALL_TIMEOUT_MS, default 30,000).
   */
  readonly eventsStallTimeoutMs: number;
  /** Open SubscribeEvents streams at most (QUERY_EVENTS_MAX_SUBSCRIBERS, default 1,000). */
  readonly eventsMaxSubscribers: number;
  /** How long the start waits for the database and Redis (ORDERLY_STARTUP_TIMEOUT_MS, default 60,000). */
  readonly startupTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

export function readQueryServiceConfig(env: Env): QueryServiceConfig {
  const read = new ConfigReader(env);
  const problems = read.problems;
  const stack = read.stack();
  const serving = readServingConfig(env, "QUERY_HOST", problems);
  const metricsPort = read.port("METRICS_PORT", 9402);
  const startupTimeoutMs = read.startupTimeoutMs();
  const maxWaitMs = read.integer("QUERY_MAX_WAIT_MS", 500, 0, 60_000);
  const streamMaxMs = read.integer("QUERY_STREAM_MAX_MS", 30_000, 1, 300_000);
  const maxWaiters = read.integer("QUERY_MAX_WAITERS", 10_000, 1, 1_000_000);
  const readTimeoutMs = read.integer("QUERY_READ_TIMEOUT_MS", 2_000, 1, 60_000);
  const eventsStallTimeoutMs = read.integer("QUERY_EVENTS_STALL_TIMEOUT_MS", 30_000, 100, 3_600_000);
  const eventsMaxSubscribers = read.integer("QUERY_EVENTS_MAX_SUBSCRIBERS", 1_000, 1, 100_000);
  const pageTokenSecret = env.QUERY_PAGE_TOKEN_SECRET?.trim() || undefined;
  if (pageTokenSecret !== undefined && Buffer.byteLength(pageTokenSecret) < 16) {
    problems.push("QUERY_PAGE_TOKEN_SECRET is too short (at least 16 bytes; every replica needs the same one)");
  }
  const batchRaw = env.QUERY_BATCH_READS?.trim() || "true";
  if (batchRaw !== "true" && batchRaw !== "false") {
    problems.push(`QUERY_BATCH_READS=${JSON.stringify(batchRaw)} must be true or false (default true)`);
  }
  const queryDatabaseUrl = readQueryDatabaseUrl(env, problems);
  if (problems.length > 0 || stack === undefined) throw new ConfigError(problems);
  return {
    ...serving,
    stack,
    queryDatabaseUrl,
    grpcPort: stack.queryPort,
    metricsPort,
    maxWaitMs,
    streamMaxMs,
    maxWaiters,
    pageTokenSecret,
    batchReads: batchRaw !== "false",
    readTimeoutMs,
    startupTimeoutMs,
    eventsStallTimeoutMs,
    eventsMaxSubscribers,
  };
}
function readQueryDatabaseUrl(env: Env, problems: string[]): string | undefined {
  const raw = env.QUERY_DATABASE_URL?.trim();
  if (!raw) return undefined;
  const example = "postgres://replica:5432/orderly";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push(`QUERY_DATABASE_URL=${JSON.stringify(raw)} is not a URL (expected e.g. ${example})`);
    return undefined;
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    problems.push(`QUERY_DATABASE_URL=${JSON.stringify(raw)} is not a postgres:// URL (e.g. ${example})`);
  } else if (url.pathname.replace(/^\//, "") === "") {
    problems.push(`QUERY_DATABASE_URL=${JSON.stringify(raw)} names no database (expected e.g. ${example})`);
  }
  return withDefaultUser(raw, env);
}
