import { CommandService } from "@orderly/contracts";
import { NatsStreamTail } from "@orderly/event-bus";
import {
  createPool,
  ensureDatabase,
  migrateEventStore,
  PostgresEventStore,
  StoreContinuity,
} from "@orderly/event-store-postgres";
import { GrpcServer, insecureWarning, isSecured, MAX_RECEIVE_MESSAGE_BYTES, Scopes } from "@orderly/grpc-server";
import {
  connectionProblem,
  maskPassword,
  natsServers,
  PostgresProbe,
  postgresServer,
  runService,
  type ServiceStart,
  shutdownOnSignals,
  startOpsServer,
  waitForDependencies,
  watchHealth,
} from "@orderly/observability";
import { orderEventUpcasters } from "@orderly/orders-domain";
import { Registry } from "prom-client";
import { createCommandHandlers } from "./command-handlers.js";
import { CommandPipeline } from "./command-pipeline.js";
import { type CommandServiceConfig, readConfig } from "./config.js";
import { ContinuityGate, GatedEventStore } from "./continuity-gate.js";
import {
  createAppendDurationMetric,
  createCommandMetrics,
  registerAppendStats,
  registerContinuityMetrics,
} from "./metrics.js";
import { TracedEventStore, traceGroupCommit } from "./traced-event-store.js";

// Composition root of the CommandService: configuration, the Postgres event store, the pipeline, gRPC and ops.

async function main({ config, logger, tracing }: ServiceStart<CommandServiceConfig>): Promise<void> {
  const tracer = tracing.tracer;
  if (!isSecured(config.security)) logger.warn(insecureWarning(`${config.host}:${config.commandPort}`));
  const databaseLabel = maskPassword(config.databaseUrl);
  const registry = new Registry();
  // Up first, NOT_SERVING (/readyz 503) until everything below is: started side by side with Postgres (as a container
  // platform does), it waits for it with backoff for ORDERLY_STARTUP_TIMEOUT_MS, like the other services.
  let ready = (): boolean => false;
  const ops = await startOpsServer({ port: config.metricsPort, registry, ready: () => ready() });
  const starting = new AbortController();
  const stopWaiting = shutdownOnSignals(
    async () => {
      starting.abort(new Error("stopping"));
      await ops.close();
    },
    { logger },
  );
  try {
    await waitForDependencies([postgresServer(config.databaseUrl)], {
      timeoutMs: config.startupTimeoutMs,
      logger,
      signal: starting.signal,
    });
  } catch (error) {
    if (starting.signal.aborted) return;
    await ops.close();
    throw error;
  } finally {
    stopWaiting();
  }
  try {
    await ensureDatabase(config.databaseUrl);
  } catch (error) {
    throw new Error(connectionProblem("Postgres", config.databaseUrl, error));
  }
  const pool = createPool(config.databaseUrl, { max: config.poolMax });
  // A lost connection may mean a restored or failed-over database: the continuity gate checks again (set below).
  let gate: ContinuityGate | undefined;
  pool.on("error", (error) => {
    logger.warn({ err: error }, "idle Postgres connection failed");
    gate?.invalidate();
  });
  await migrateEventStore(pool);

  const store = new PostgresEventStore(pool, {
    statementTimeoutMs: config.statementTimeoutMs,
    maxConcurrentBatches: config.appendConcurrentBatches,
    onBatch: createAppendDurationMetric(registry),
    upcasters: orderEventUpcasters,
    ...(tracer ? { traceBatch: traceGroupCommit(tracer) } : {}),
  });
  // Positions are never reused: no append while the store is behind the stream (ADR 0010). Fail-open without NATS.
  const streamTail = new NatsStreamTail({
    servers: natsServers(config.natsUrl),
    natsOptions: config.nats,
    namespace: config.namespace,
    name: "command-service",
  });
  // Bounded like the store's statements: a silent network must not hold an append at the gate.
  const continuityPool = createPool(config.databaseUrl, { max: 1, connectionTimeoutMillis: 2_000 });
  const continuity = new ContinuityGate({
    stream: streamTail,
    store: new StoreContinuity(continuityPool),
    logger,
    onChange: () => serving(),
  });
  gate = continuity;
  registerContinuityMetrics(registry, continuity);
  const pipeline = new CommandPipeline(
    new GatedEventStore(tracer ? new TracedEventStore(store, tracer) : store, continuity),
    { cacheSize: config.cacheSize },
  );
  const metrics = createCommandMetrics(registry, () => pipeline.retries);
  registerAppendStats(registry, () => store.stats);

  // The contract's explicit request limit: 1 MiB; larger requests get RESOURCE_EXHAUSTED and the server keeps serving.
  const server = new GrpcServer({
    name: "command-service",
    logger,
    registry,
    maxReceiveMessageBytes: MAX_RECEIVE_MESSAGE_BYTES,
    tls: config.security.tls,
    auth: config.security.auth,
    limits: config.security.limits,
    maxDeadlineMs: config.security.maxDeadlineMs,
    protoDir: config.protoDir,
    tracer,
  });
  server.addService(CommandService, createCommandHandlers(pipeline, metrics), { scope: Scopes.write });

  // Health follows Postgres and the continuity gate: grpc.health.v1 (Check and Watch) and /readyz say NOT_SERVING while
  // Postgres is unreachable or the store is behind the event stream.
  const probe = new PostgresProbe(config.databaseUrl, { applicationName: "command-service health" });
  const postgres = watchHealth({
    check: () => probe.check(),
    onChange: (up) => {
      serving();
      if (up) logger.info("Postgres reachable again: SERVING");
      else {
        logger.warn("Postgres unreachable: NOT_SERVING");
        continuity.invalidate();
      }
    },
  });
  function serving(): void {
    server.setServing(postgres.healthy && !continuity.diverged);
  }
  continuity.start();

  const port = await server.listen(config.commandPort, config.host);
  let listening = true;
  ready = () => listening && postgres.healthy && !continuity.diverged;
  logger.info({ port, metricsPort: ops.port, database: databaseLabel }, "command-service ready");

  shutdownOnSignals(
    async (signal) => {
      logger.info({ signal }, "command-service stopping: no new calls, finishing the ones in flight");
      listening = false;
      postgres.stop();
      // In-flight calls finish (their appends commit) before the store and the pool go away: nothing accepted is lost.
      await server.shutdown({ graceMs: config.shutdownGraceMs });
      await store.close();
      continuity.close();
      await streamTail.close();
      await continuityPool.end();
      await pool.end();
      await probe.close();
      await ops.close();
      await tracing.shutdown();
      logger.info("command-service stopped");
    },
    { logger, timeoutMs: config.shutdownGraceMs + 5_000 },
  );
}

runService("command-service", process.env, readConfig, main);
