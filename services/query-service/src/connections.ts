import {
  connectionProblem,
  createRedisClient,
  type Logger,
  maskPassword,
  PostgresProbe,
  withRedisCause,
} from "@orderly/observability";
import type { Redis } from "ioredis";
import pg from "pg";
import type { Cleanups } from "./cleanups.js";
import type { QueryServiceConfig } from "./config.js";

/** The query service's connections, each closed by `cleanups`. */
export interface QueryConnections {
  /** DATABASE_URL: the event store's tables, notifications, commit times. */
  readonly pool: pg.Pool;
  /** Where `order_summaries` is read: the streaming replica of QUERY_DATABASE_URL when set, else `pool`. */
  readonly readPool: pg.Pool;
  /** The replica's liveness probe (QUERY_DATABASE_URL only). */
  readonly replicaProbe: PostgresProbe | undefined;
  /** Reads (auto-pipelined). */
  readonly redis: Redis;
  /** The checkpoint announcements' subscriber (not connected yet). */
  readonly subscriber: Redis;
}

export async function openConnections(
  config: QueryServiceConfig,
  logger: Logger,
  cleanups: Cleanups,
): Promise<QueryConnections> {
  const pool = openPool(config.stack.databaseUrl, "query-service", "idle Postgres connection failed", config, {
    logger,
    cleanups,
  });
  await pool.query("select 1").catch((error: unknown) => {
    throw new Error(connectionProblem("Postgres", config.stack.databaseUrl, error));
  });
  const replica = config.queryDatabaseUrl === undefined ? undefined : await openReplica(config, logger, cleanups);
  const { redis, subscriber } = await openRedis(config, logger, cleanups);
  return { pool, readPool: replica?.pool ?? pool, replicaProbe: replica?.probe, redis, subscriber };
}

/** A pool of ten whose every read is bounded by QUERY_READ_TIMEOUT_MS; an idle connection's failure is logged. */
function openPool(
  connectionString: string,
  applicationName: string,
  idleFailure: string,
  config: QueryServiceConfig,
  { logger, cleanups }: { logger: Logger; cleanups: Cleanups },
): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    application_name: applicationName,
    // A read that needs a new connection is bounded by the read timeout too: a server that accepts the connection
    // but never answers would otherwise hold the call for the whole connection timeout.
    connectionTimeoutMillis: config.readTimeoutMs,
    // pg's client-side timer (a silent server never answers a server-side timeout); pool.query drops the client.
    query_timeout: config.readTimeoutMs,
  });
  pool.on("error", (error) => logger.warn({ err: error }, idleFailure));
  cleanups.push(() => pool.end());
  return pool;
}

/**
 * order_summaries from a streaming replica (QUERY_DATABASE_URL): its rows and its checkpoint replay together, in
 * commit order, so a read after the replica's checkpoint reached a position sees that position's rows.
 */
async function openReplica(
  config: QueryServiceConfig,
  logger: Logger,
  cleanups: Cleanups,
): Promise<{ pool: pg.Pool; probe: PostgresProbe }> {
  const replicaUrl = config.queryDatabaseUrl as string;
  const replicaPool = openPool(replicaUrl, "query-service replica reads", "idle replica connection failed", config, {
    logger,
    cleanups,
  });
  const { rows } = await replicaPool
    .query<{ standby: boolean }>("select pg_is_in_recovery() as standby")
    .catch((error: unknown) => {
      throw new Error(connectionProblem("Postgres", replicaUrl, error).replace("DATABASE_URL", "QUERY_DATABASE_URL"));
    });
  if (rows[0]?.standby !== true) {
    logger.warn(
      `QUERY_DATABASE_URL (${maskPassword(replicaUrl)}) is not a standby: reads go to a primary of its own, which is right ` +
        "only when it is DATABASE_URL's server",
    );
  }
  const probe = new PostgresProbe(replicaUrl, { applicationName: "query-service replica health" });
  logger.info(
    { replica: maskPassword(replicaUrl) },
    "order_summaries reads from the streaming replica (QUERY_DATABASE_URL)",
  );
  return { pool: replicaPool, probe };
}

async function openRedis(
  config: QueryServiceConfig,
  logger: Logger,
  cleanups: Cleanups,
): Promise<{ redis: Redis; subscriber: Redis }> {
  const redisOptions = { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 } as const;
  // Auto-pipelining: the reads of concurrent calls leave in one write.
  // One server, or a Redis Cluster when REDIS_URL lists its seeds (every read stays in the namespace's slot).
  const redis = createRedisClient(config.stack.redisUrl, config.stack.redis, {
    ...redisOptions,
    connectionName: "query-service",
    enableAutoPipelining: true,
    commandTimeout: config.readTimeoutMs,
  });
  redis.on("error", (error) => logger.debug({ err: error }, "Redis error"));
  cleanups.push(() => redis.disconnect());
  await redis.connect().catch((error: unknown) => {
    throw new Error(
      `Redis is not reachable at REDIS_URL (${maskPassword(config.stack.redisUrl)}): ${String(withRedisCause(error))}`,
    );
  });
  // On a cluster, the checkpoint channel's PUBLISH reaches subscribers on every node.
  const subscriber = createRedisClient(config.stack.redisUrl, config.stack.redis, {
    ...redisOptions,
    connectionName: "query-service-checkpoints",
  });
  return { redis, subscriber };
}

/**
 * Runs `prepare` (e.g. the read models' migrations) over a pool of its own: not the read pool, because migrations wait
 * as long as another process holds the migration lock, which the read timeout would cut short (and a lock granted
 * after its client gave up would stay with a pooled connection).
 */
export async function runPrepare(
  config: QueryServiceConfig,
  redis: Redis,
  prepare: (connections: { pool: pg.Pool; redis: Redis }) => Promise<void>,
): Promise<void> {
  const setupPool = new pg.Pool({
    connectionString: config.stack.databaseUrl,
    max: 1,
    application_name: "query-service setup",
    connectionTimeoutMillis: 5_000,
  });
  setupPool.on("error", () => {});
  try {
    await prepare({ pool: setupPool, redis });
  } finally {
    await setupPool.end();
  }
}
