import { EventService, QueryService } from "@orderly/contracts";
import { CommitNotifications, PostgresCommitTimes, PostgresEventFeed } from "@orderly/event-store-postgres";
import { GrpcServer, Scopes } from "@orderly/grpc-server";
import {
  contextOf,
  type Logger,
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
import type { Redis } from "ioredis";
import type pg from "pg";
import { Registry } from "prom-client";
import { whenStarted } from "./call-timing.js";
import {
  customerOrdersChannel,
  PostgresCheckpointNotifications,
  RedisCheckpointNotifications,
} from "./checkpoint-notifications.js";
import { Cleanups } from "./cleanups.js";
import { CommitWatch } from "./commit-watch.js";
import type { QueryServiceConfig } from "./config.js";
import { openConnections, type QueryConnections, runPrepare } from "./connections.js";
import { type EventServiceHandlers, eventRpcKinds, eventServiceHandlers } from "./event-handlers.js";
import { EventMetrics } from "./event-metrics.js";
import { Events } from "./events.js";
import { type QueryServiceHandlers, queryRpcKinds, queryServiceHandlers } from "./grpc-handlers.js";
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

type Watchers = Record<"order_summaries" | "customer_orders", PositionWatcher>;

/** The composition root: connections, watchers, use cases, gRPC server, ops server, health. */
export async function startQueryService(options: StartQueryServiceOptions): Promise<RunningQueryService> {
  const { config, logger } = options;
  const registry = options.registry ?? new Registry();
  const cleanups = new Cleanups(logger);
  try {
    // Health first: while the service waits for its dependencies, grpc.health.v1 and /readyz say NOT_SERVING and calls
    // are UNAVAILABLE (started side by side with the command service, the database may not exist yet).
    let handlers: QueryServiceHandlers | undefined;
    let eventHandlers: EventServiceHandlers | undefined;
    let healthy: () => boolean = () => false;
    let stopping = false;
    const server = createGrpcServer(options, registry, {
      queries: () => handlers,
      events: () => eventHandlers,
    });
    const grpcPort = await server.listen(config.grpcPort, config.host);
    cleanups.push(() => server.shutdown({ graceMs: 5_000 }));
    const ops = await startOpsServer({ port: config.metricsPort, registry, ready: () => !stopping && healthy() });
    cleanups.push(() => ops.close());
    await waitForPostgresAndRedis(config, logger);

    const connections = await openConnections(config, logger, cleanups);
    if (options.prepare !== undefined) await runPrepare(config, connections.redis, options.prepare);
    const readers = options.readers({
      pool: connections.readPool,
      redis: connections.redis,
      namespace: config.stack.namespace,
    });
    const { watchers, notifications } = await startWatchers(config, logger, readers, connections, cleanups);
    const { queries, metrics } = createQueries(options, registry, readers, watchers, connections.pool, cleanups);
    const events = await startEvents(config, logger, registry, connections.pool, cleanups);
    healthy = watchServiceHealth(config, connections, notifications, watchers, cleanups);

    const observe = (rpc: string, code: string, seconds: number) =>
      metrics.queryDuration.observe({ rpc, code }, seconds);
    handlers = queryServiceHandlers(queries, observe);
    eventHandlers = eventServiceHandlers(events, observe);
    followHealth(server, logger, healthy, () => stopping, cleanups);
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
    const close = (graceMs = 5_000) => {
      stopping = true;
      closing ??= server.shutdown({ graceMs }).then(() => cleanups.closeAll());
      return closing;
    };
    return { grpcPort, metricsPort: ops.port, queries, events, close };
  } catch (error) {
    await cleanups.closeAll();
    throw error;
  }
}

/** Waits (NOT_SERVING meanwhile) for the database, which the command service creates, and for Redis. */
function waitForPostgresAndRedis(config: QueryServiceConfig, logger: Logger): Promise<void> {
  return waitForDependencies(
    [
      postgresDatabase(
        config.stack.databaseUrl,
        "the command service creates it with its schema: start it, or point DATABASE_URL at the right database",
      ),
      redisServer(config.stack.redisUrl, config.stack.redis),
    ],
    { timeoutMs: config.startupTimeoutMs, logger },
  );
}

/** The gRPC server with both services, NOT_SERVING (and calls UNAVAILABLE) until their handlers are there. */
function createGrpcServer(
  options: StartQueryServiceOptions,
  registry: Registry,
  handlers: { queries: () => QueryServiceHandlers | undefined; events: () => EventServiceHandlers | undefined },
): GrpcServer {
  const { config, logger } = options;
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
  server.addService(QueryService, whenStarted(handlers.queries, queryRpcKinds), { scope: Scopes.read });
  server.addService(EventService, whenStarted(handlers.events, eventRpcKinds), {
    scope: Scopes.read,
    stallTimeoutMs: config.eventsStallTimeoutMs,
  });
  server.setServing(false);
  return server;
}

/** A watcher per read model, woken by its checkpoint announcements (subscribed first: nothing in between is missed). */
async function startWatchers(
  config: QueryServiceConfig,
  logger: Logger,
  readers: QueryReaders,
  connections: QueryConnections,
  cleanups: Cleanups,
): Promise<{
  watchers: Watchers;
  notifications: { postgres: PostgresCheckpointNotifications; redis: RedisCheckpointNotifications };
}> {
  const onWatcherError = (name: string) => (error: unknown) =>
    logger.warn({ err: error, readModel: name }, "cannot read the read model's checkpoint");
  const watchers: Watchers = {
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
  const postgres = new PostgresCheckpointNotifications({
    connectionString: config.stack.databaseUrl,
    watchers: [watchers.order_summaries],
    logger,
    readsElsewhere: config.queryDatabaseUrl !== undefined,
  });
  cleanups.push(() => postgres.close());
  await postgres.start();
  const redis = new RedisCheckpointNotifications({
    subscriber: connections.subscriber,
    channel: customerOrdersChannel(config.stack.namespace),
    watcher: watchers.customer_orders,
    logger,
  });
  cleanups.push(() => redis.close());
  await redis.start();
  await Promise.all([watchers.order_summaries.start(), watchers.customer_orders.start()]);
  return { watchers, notifications: { postgres, redis } };
}

/** The queries (use cases) with their metrics, lag clock and command-to-visible recorder. */
function createQueries(
  options: StartQueryServiceOptions,
  registry: Registry,
  readers: QueryReaders,
  watchers: Watchers,
  pool: pg.Pool,
  cleanups: Cleanups,
): { queries: Queries; metrics: QueryMetrics } {
  const { config, logger, tracer } = options;
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
      waited: (readModel, outcome, seconds, traceparent) => {
        metrics?.waited(readModel, outcome, seconds);
        // A child of the call's SERVER span.
        if (tracer && traceparent)
          recordSpan(
            tracer,
            {
              name: "wait for position",
              startTime: Date.now() - seconds * 1000,
              attributes: { "orderly.read_model": readModel, "orderly.wait.outcome": outcome },
              error: outcome === "reached" ? undefined : outcome,
            },
            contextOf(traceparent),
          );
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
  return { queries, metrics };
}

/** EventService: pages of the event log over the pool, woken at the head by the store's commit notifications. */
async function startEvents(
  config: QueryServiceConfig,
  logger: Logger,
  registry: Registry,
  pool: pg.Pool,
  cleanups: Cleanups,
): Promise<Events> {
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
  return events;
}

/**
 * Whether the service can answer: every connection up and answering, every watcher healthy. The LISTEN connections
 * notice a server that goes away, not one that stops answering: the databases are probed and Redis PINGed as well.
 */
function watchServiceHealth(
  config: QueryServiceConfig,
  connections: QueryConnections,
  notifications: { postgres: PostgresCheckpointNotifications; redis: RedisCheckpointNotifications },
  watchers: Watchers,
  cleanups: Cleanups,
): () => boolean {
  const postgresProbe = new PostgresProbe(config.stack.databaseUrl, { applicationName: "query-service health" });
  const postgres = watchHealth({ check: () => postgresProbe.check(), onChange: () => {} });
  cleanups.push(() => {
    postgres.stop();
    return postgresProbe.close();
  });
  const probe = connections.replicaProbe;
  const replica = probe && watchHealth({ check: () => probe.check(), onChange: () => {} });
  if (replica && probe) {
    cleanups.push(() => {
      replica.stop();
      return probe.close();
    });
  }
  // PING over the read connection, bounded by its command timeout.
  const redis = connections.redis;
  const redisAnswers = watchHealth({ check: async () => (await redis.ping()) === "PONG", onChange: () => {} });
  cleanups.push(() => redisAnswers.stop());
  return () =>
    postgres.healthy &&
    (replica?.healthy ?? true) &&
    notifications.postgres.connected &&
    notifications.redis.connected &&
    redis.status === "ready" &&
    redisAnswers.healthy &&
    watchers.order_summaries.isHealthy &&
    watchers.customer_orders.isHealthy;
}

/** SERVING now if healthy, then follows health every 500 ms (NOT_SERVING while unhealthy), until stopping. */
function followHealth(
  server: GrpcServer,
  logger: Logger,
  healthy: () => boolean,
  stopping: () => boolean,
  cleanups: Cleanups,
): void {
  server.setServing(healthy());
  let lastHealthy = healthy();
  const healthTimer = setInterval(() => {
    const now = healthy();
    if (now !== lastHealthy && !stopping()) {
      lastHealthy = now;
      server.setServing(now);
      if (now) logger.info("Postgres and Redis reachable again: SERVING");
      else logger.warn("Postgres or Redis unreachable: NOT_SERVING");
    }
  }, 500);
  healthTimer.unref();
  cleanups.push(() => clearInterval(healthTimer));
}
