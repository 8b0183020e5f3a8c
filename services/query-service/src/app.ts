import { EventService, QueryService } from "@orderly/contracts";
import { CommitNotifications, PostgresCommitTimes, PostgresEventFeed } from "@orderly/event-store-postgres";
import { GrpcServer, Scopes } from "@orderly/grpc-server";
import {
  connectionProblem,
  type Logger,
  maskPassword,
  type OpsServer,
  PostgresProbe,
  postgresDatabase,
  recordSpan,
  redisServer,
  startOpsServer,
  type Tracer,
  waitForDependencies,
  watchHealth,
} from "@orderly/observability";
import { orderEventTypes, orderEventUpcasters } from "@orderly/orders-domain";
import { Redis } from "ioredis";
import pg from "pg";
import { Registry } from "prom-client";
import {
  customerOrdersChannel,
  PostgresCheckpointNotifications,
  RedisCheckpointNotifications,
} from "./checkpoint-notifications.js";
import { CommitWatch } from "./commit-watch.js";
import type { QueryServiceConfig } from "./config.js";
import { type EventServiceHandlers, eventServiceHandlers, eventsWhenStarted } from "./event-handlers.js";
import { EventMetrics } from "./event-metrics.js";
import { Events } from "./events.js";
import { type QueryServiceHandlers, queryServiceHandlers, whenStarted } from "./grpc-handlers.js";
import { LagClock } from "./lag.js";
import { QueryMetrics } from "./metrics.js";
import { PageTokens } from "./page-token.js";
import { PositionWatcher } from "./position-watcher.js";
import { Queries } from "./queries.js";
import type { CheckpointReader, CustomerOrdersReader, OrderSummaryReader } from "./read-models.js";
import { VisibilityRecorder } from "./visibility.js";

export interface QueryReaders {
  readonly summaries: OrderSummaryReader;
  readonly customerOrders: CustomerOrdersReader;
  readonly summariesCheckpoint: CheckpointReader;
  readonly customerOrdersCheckpoint: CheckpointReader;
}

export interface StartQueryServiceOptions {
  readonly config: QueryServiceConfig;
  readonly logger: Logger;
  /**
   * Builds the read-model readers over the service's own connections. `pool` serves `order_summaries` and its
   * checkpoint: the streaming replica of QUERY_DATABASE_URL when set, else DATABASE_URL.
   */
  readonly readers: (connections: { pool: pg.Pool; redis: Redis; namespace: string }) => QueryReaders;
  /**
   * Runs once the connections are up, before anything reads (e.g. create the read models' tables), over a pool of its
   * own without the read timeout.
   */
  readonly prepare?: (connections: { pool: pg.Pool; redis: Redis }) => Promise<void>;
  readonly registry?: Registry;
  /** Spans for every call and for each read-your-writes wait (see startTracing); undefined: tracing off. */
  readonly tracer?: Tracer | undefined;
}

export interface RunningQueryService {
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly queries: Queries;
  readonly events: Events;
  /** Graceful: health NOT_SERVING, calls finish (or are cancelled after `graceMs`), connections close. */
  close(graceMs?: number): Promise<void>;
}

const CLEANUP_TIMEOUT_MS = 2_000;

/** The composition root: connections, watchers, use cases, gRPC server, ops server, health. */
export async function startQueryService(options: StartQueryServiceOptions): Promise<RunningQueryService> {
  const { config, logger } = options;
  const registry = options.registry ?? new Registry();
  const cleanups: (() => Promise<void> | void)[] = [];
  // Each step is bounded: ending a pool whose server went silent waits for a goodbye that never comes, and a close
  // must not hang on it.
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const outcome = await Promise.race([
          Promise.resolve(cleanup()).then(() => "closed" as const),
          new Promise<"timed out">((resolve) => {
            timer = setTimeout(() => resolve("timed out"), CLEANUP_TIMEOUT_MS);
          }),
        ]);
        if (outcome === "timed out") logger.warn(`a connection did not close within ${CLEANUP_TIMEOUT_MS} ms; left it`);
      } catch (error) {
        logger.warn({ err: error }, "error while closing");
      } finally {
        clearTimeout(timer);
      }
    }
  };

  try {
    // Health first: while the service waits for its dependencies, grpc.health.v1 and /readyz say NOT_SERVING and calls
    // are UNAVAILABLE (started side by side with the command service, the database may not exist yet).
    let handlers: QueryServiceHandlers | undefined;
    let eventHandlers: EventServiceHandlers | undefined;
    let healthy: () => boolean = () => false;
    let stopping = false;
    const server = new GrpcServer({
      name: "query-service",
      logger,
      registry,
      tls: config.security.tls,
      auth: config.security.auth,
      limits: config.security.limits,
      maxDeadlineMs: config.security.maxDeadlineMs,
      protoDir: config.protoDir,
      tracer: options.tracer,
    });
    server.addService(
      QueryService,
      whenStarted(() => handlers),
      { scope: Scopes.read },
    );
    server.addService(
      EventService,
      eventsWhenStarted(() => eventHandlers),
      { scope: Scopes.read, stallTimeoutMs: config.eventsStallTimeoutMs },
    );
    server.setServing(false);
    const grpcPort = await server.listen(config.grpcPort, config.host);
    cleanups.push(() => server.shutdown({ graceMs: 5_000 }));
    const ops: OpsServer = await startOpsServer({
      port: config.metricsPort,
      registry,
      ready: () => !stopping && healthy(),
    });
    cleanups.push(() => ops.close());
    await waitForDependencies(
      [
        postgresDatabase(
          config.stack.databaseUrl,
          "the command service creates it with its schema: start it, or point DATABASE_URL at the right database",
        ),
        redisServer(config.stack.redisUrl, config.stack.redis),
      ],
      { timeoutMs: config.startupTimeoutMs, logger },
    );

    const pool = new pg.Pool({
      connectionString: config.stack.databaseUrl,
      max: 10,
      application_name: "query-service",
      // A read that needs a new connection is bounded by the read timeout too: a server that accepts the connection
      // but never answers would otherwise hold the call for the whole connection timeout.
      connectionTimeoutMillis: config.readTimeoutMs,
      // pg's client-side timer (a silent server never answers a server-side timeout); pool.query drops the client.
      query_timeout: config.readTimeoutMs,
    });
    pool.on("error", (error) => logger.warn({ err: error }, "idle Postgres connection failed"));
    cleanups.push(() => pool.end());
    await pool.query("select 1").catch((error: unknown) => {
      throw new Error(connectionProblem("Postgres", config.stack.databaseUrl, error));
    });
    // order_summaries from a streaming replica (QUERY_DATABASE_URL): its rows and its checkpoint replay together, in
    // commit order, so a read after the replica's checkpoint reached a position sees that position's rows.
    let readPool = pool;
    let replicaProbe: PostgresProbe | undefined;
    if (config.queryDatabaseUrl !== undefined) {
      const replicaUrl = config.queryDatabaseUrl;
      readPool = new pg.Pool({
        connectionString: replicaUrl,
        max: 10,
        application_name: "query-service replica reads",
        connectionTimeoutMillis: config.readTimeoutMs,
        query_timeout: config.readTimeoutMs,
      });
      const replicaPool = readPool;
      replicaPool.on("error", (error) => logger.warn({ err: error }, "idle replica connection failed"));
      cleanups.push(() => replicaPool.end());
      const { rows } = await replicaPool
        .query<{ standby: boolean }>("select pg_is_in_recovery() as standby")
        .catch((error: unknown) => {
          throw new Error(
            connectionProblem("Postgres", replicaUrl, error).replace("DATABASE_URL", "QUERY_DATABASE_URL"),
          );
        });
      if (rows[0]?.standby !== true) {
        logger.warn(
          `QUERY_DATABASE_URL (${maskPassword(replicaUrl)}) is not a standby: reads go to a primary of its own, which is right ` +
            "only when it is DATABASE_URL's server",
        );
      }
      replicaProbe = new PostgresProbe(replicaUrl, { applicationName: "query-service replica health" });
      logger.info(
        { replica: maskPassword(replicaUrl) },
        "order_summaries reads from the streaming replica (QUERY_DATABASE_URL)",
      );
    }

    const redisOptions = { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 } as const;
    // Auto-pipelining: the reads of concurrent calls leave in one write.
    const redis = new Redis(config.stack.redisUrl, {
      ...config.stack.redis,
      ...redisOptions,
      connectionName: "query-service",
      enableAutoPipelining: true,
      commandTimeout: config.readTimeoutMs,
    });
    redis.on("error", (error) => logger.debug({ err: error }, "Redis error"));
    cleanups.push(() => redis.disconnect());
    await redis.connect().catch((error: unknown) => {
      throw new Error(`Redis is not reachable at REDIS_URL (${maskPassword(config.stack.redisUrl)}): ${String(error)}`);
    });
    const subscriber = new Redis(config.stack.redisUrl, {
      ...config.stack.redis,
      ...redisOptions,
      connectionName: "query-service-checkpoints",
    });

    if (options.prepare !== undefined) {
      // Not over the read pool: migrations wait as long as another process holds the migration lock, which the read
      // timeout would cut short (and a lock granted after its client gave up would stay with a pooled connection).
      const setupPool = new pg.Pool({
        connectionString: config.stack.databaseUrl,
        max: 1,
        application_name: "query-service setup",
        connectionTimeoutMillis: 5_000,
      });
      setupPool.on("error", () => {});
      try {
        await options.prepare({ pool: setupPool, redis });
      } finally {
        await setupPool.end();
      }
    }
    const readers = options.readers({ pool: readPool, redis, namespace: config.stack.namespace });
    const onWatcherError = (name: string) => (error: unknown) =>
      logger.warn({ err: error, readModel: name }, "cannot read the read model's checkpoint");
    const watchers = {
      order_summaries: new PositionWatcher({
        name: "order_summaries",
        checkpoints: readers.summariesCheckpoint,
        onError: onWatcherError("order_summaries"),
      }),
      customer_orders: new PositionWatcher({
        name: "customer_orders",
        checkpoints: readers.customerOrdersCheckpoint,
        onError: onWatcherError("customer_orders"),
      }),
    };
    cleanups.push(() => {
      watchers.order_summaries.stop();
      watchers.customer_orders.stop();
    });

    // Subscribe first, then read the checkpoints: nothing announced in between is missed.
    const pgNotifications = new PostgresCheckpointNotifications({
      connectionString: config.stack.databaseUrl,
      watchers: [watchers.order_summaries],
      logger,
      readsElsewhere: config.queryDatabaseUrl !== undefined,
    });
    cleanups.push(() => pgNotifications.close());
    await pgNotifications.start();
    const redisNotifications = new RedisCheckpointNotifications({
      subscriber,
      channel: customerOrdersChannel(config.stack.namespace),
      watcher: watchers.customer_orders,
      logger,
    });
    cleanups.push(() => redisNotifications.close());
    await redisNotifications.start();
    await Promise.all([watchers.order_summaries.start(), watchers.customer_orders.start()]);

    const commitTimes = new PostgresCommitTimes(pool);
    let metrics: QueryMetrics | undefined;
    const visibility = new VisibilityRecorder({
      commitTimes,
      observe: (readModel, seconds) => metrics?.commandVisible(readModel, seconds),
      onError: (error) => logger.debug({ err: error }, "cannot look up commit times for command-to-visible latency"),
    });
    cleanups.push(() => visibility.close());
    if (config.pageTokenSecret === undefined) {
      logger.warn(
        "QUERY_PAGE_TOKEN_SECRET is not set: page tokens are signed with a random key and die with this process",
      );
    }
    const queries = new Queries({
      summaries: readers.summaries,
      customerOrders: readers.customerOrders,
      watchers,
      lag: new LagClock(commitTimes),
      pageTokens: new PageTokens(config.pageTokenSecret),
      maxWaitMs: config.maxWaitMs,
      streamMaxMs: config.streamMaxMs,
      maxWaiters: config.maxWaiters,
      observer: {
        waited: (readModel, outcome, seconds) => {
          metrics?.waited(readModel, outcome, seconds);
          // In the call's async context: a child of its SERVER span.
          if (options.tracer)
            recordSpan(options.tracer, {
              name: "wait for position",
              startTime: Date.now() - seconds * 1000,
              attributes: { "orderly.read_model": readModel, "orderly.wait.outcome": outcome },
              error: outcome === "reached" ? undefined : outcome,
            });
        },
        visible: (readModel, position) => visibility.record(readModel, position),
      },
    });
    metrics = new QueryMetrics(registry, {
      waiters: () => queries.waitingCount,
      streams: () => queries.streamCount,
      positions: () => ({
        order_summaries: watchers.order_summaries.position,
        customer_orders: watchers.customer_orders.position,
      }),
    });
    const queryMetrics = metrics;

    // EventService: pages of the event log over the read pool, woken at the head by the store's commit notifications.
    const commits = new CommitWatch();
    const commitNotifications = new CommitNotifications({
      connectionString: config.stack.databaseUrl,
      applicationName: "query-service commits",
      onCommit: (head) => commits.advance(head),
      onError: (error) =>
        logger.warn({ err: error }, "lost the store's commit notifications; subscriptions poll every second meanwhile"),
    });
    cleanups.push(() => commitNotifications.close());
    await commitNotifications.start();
    const events = new Events({
      log: new PostgresEventFeed(pool, { statementTimeoutMs: config.readTimeoutMs, upcasters: orderEventUpcasters }),
      commits,
      knownTypes: orderEventTypes,
      maxSubscribers: config.eventsMaxSubscribers,
      observer: { sent: (count) => eventMetrics.sent(count) },
    });
    const eventMetrics = new EventMetrics(registry, {
      subscribers: () => events.subscribers,
      head: () => commits.head,
    });

    // The LISTEN connection notices a server that goes away, not one that stops answering: probe it as well.
    const postgresProbe = new PostgresProbe(config.stack.databaseUrl, { applicationName: "query-service health" });
    const postgres = watchHealth({ check: () => postgresProbe.check(), onChange: () => {} });
    cleanups.push(() => {
      postgres.stop();
      return postgresProbe.close();
    });
    const probe = replicaProbe;
    const replica = probe && watchHealth({ check: () => probe.check(), onChange: () => {} });
    if (replica && probe) {
      cleanups.push(() => {
        replica.stop();
        return probe.close();
      });
    }

    // Likewise a Redis that keeps the connection open and stops answering: PING over the read connection, bounded by
    // its command timeout.
    const redisAnswers = watchHealth({ check: async () => (await redis.ping()) === "PONG", onChange: () => {} });
    cleanups.push(() => redisAnswers.stop());

    healthy = () =>
      postgres.healthy &&
      (replica?.healthy ?? true) &&
      pgNotifications.connected &&
      redisNotifications.connected &&
      redis.status === "ready" &&
      redisAnswers.healthy &&
      watchers.order_summaries.isHealthy &&
      watchers.customer_orders.isHealthy;

    handlers = queryServiceHandlers(queries, (rpc, code, seconds) =>
      queryMetrics.queryDuration.observe({ rpc, code }, seconds),
    );
    eventHandlers = eventServiceHandlers(events, (rpc, code, seconds) =>
      queryMetrics.queryDuration.observe({ rpc, code }, seconds),
    );
    server.setServing(healthy());
    let lastHealthy = healthy();
    const healthTimer = setInterval(() => {
      const now = healthy();
      if (now !== lastHealthy && !stopping) {
        lastHealthy = now;
        server.setServing(now);
        if (now) logger.info("Postgres and Redis reachable again: SERVING");
        else logger.warn("Postgres or Redis unreachable: NOT_SERVING");
      }
    }, 500);
    healthTimer.unref();
    cleanups.push(() => clearInterval(healthTimer));

    logger.info(
      {
        grpcPort,
        metricsPort: ops.port,
        positions: {
          order_summaries: watchers.order_summaries.position,
          customer_orders: watchers.customer_orders.position,
        },
      },
      "query-service ready",
    );

    let closing: Promise<void> | undefined;
    return {
      grpcPort,
      metricsPort: ops.port,
      queries,
      events,
      close(graceMs = 5_000) {
        stopping = true;
        closing ??= (async () => {
          await server.shutdown({ graceMs });
          await closeAll();
        })();
        return closing;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
