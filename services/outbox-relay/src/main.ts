import { ordersBus, streamName } from "@orderly/event-bus";
import {
  createPool,
  ensureDatabase,
  migrateEventStore,
  PostgresRelayStore,
  StoreContinuity,
} from "@orderly/event-store-postgres";
import {
  natsServer,
  postgresServer,
  recordSpanPerTrace,
  runService,
  type ServiceStart,
  SpanKind,
  shutdownOnSignals,
  startOpsServer,
  waitForDependencies,
} from "@orderly/observability";
import { orderEventUpcasters } from "@orderly/orders-domain";
import { OutboxRelay } from "@orderly/outbox-relay";
import { Registry } from "prom-client";
import { type RelayServiceConfig, readConfig } from "./config.js";
import { registerOldestTransactionAge } from "./oldest-transaction.js";

// Composition root of the outbox relay: configuration, schema, the relay loop, metrics and health.

// With OTLP export (OTEL_EXPORTER_OTLP_ENDPOINT) a "publish" span per command's trace in each acked batch.
async function main({ config, logger, tracing }: ServiceStart<RelayServiceConfig>): Promise<void> {
  const tracer = tracing.tracer;
  const stream = streamName(config.stack.namespace);
  const registry = new Registry();
  let stopping = false;
  // Checks that the store still holds what the stream and the checkpoint say was published (a restore, a new
  // database under an old namespace): its own small pool, connected on first use.
  const continuityPool = createPool(config.stack.databaseUrl, { max: 1, connectionTimeoutMillis: 2_000 });
  const starting = new AbortController();
  const relay = new OutboxRelay({
    store: new PostgresRelayStore(config.stack.databaseUrl),
    natsUrl: config.stack.natsServers,
    natsOptions: config.stack.nats,
    bus: ordersBus(config.stack.namespace, { replicas: config.stack.streamReplicas }),
    logger,
    registry,
    batchSize: config.batchSize,
    maxInFlight: config.maxInFlight,
    pollIntervalMs: config.pollIntervalMs,
    ackTimeoutMs: config.ackTimeoutMs,
    lockRetryMs: config.lockRetryMs,
    continuity: new StoreContinuity(continuityPool),
    upcasters: orderEventUpcasters,
    ...(tracer
      ? {
          withTraceparents: true,
          onAcked: (batch) => {
            if (batch.traceparents === undefined || batch.publishedAtMs === undefined) return;
            recordSpanPerTrace(
              tracer,
              {
                name: `${stream} publish`,
                kind: SpanKind.PRODUCER,
                startTime: batch.publishedAtMs,
                endTime: Math.max(batch.publishedAtMs, ...batch.ackedAtMs),
                attributes: {
                  "messaging.system": "nats",
                  "messaging.destination.name": stream,
                  "orderly.batch.first_position": batch.firstPosition,
                  "orderly.batch.last_position": batch.lastPosition,
                },
              },
              batch.traceparents,
            );
          },
        }
      : {}),
  });
  // Sampled at each scrape: a transaction left open stalls every append and so the relay (alert LongTransactionBlocksAppends).
  const oldestTransaction = registerOldestTransactionAge(registry, {
    databaseUrl: config.stack.databaseUrl,
    onError: (error) => logger.debug({ err: error }, "cannot sample the oldest open transaction"),
  });
  const ops = await startOpsServer({ port: config.metricsPort, registry, ready: () => relay.ready });
  shutdownOnSignals(
    async () => {
      stopping = true;
      starting.abort(new Error("stopping"));
      // Finishes the acks in flight, writes the checkpoint and releases the lock: a standby takes over at once.
      await relay.stop();
      await continuityPool.end();
      await ops.close();
      await oldestTransaction.close();
      await tracing.shutdown();
    },
    { logger, timeoutMs: config.shutdownGraceMs },
  );

  // Started side by side with everything else: wait for Postgres and NATS (NOT_SERVING meanwhile), then make sure the
  // event store's tables exist (idempotent; the relay reads them).
  try {
    await waitForDependencies(
      [postgresServer(config.stack.databaseUrl), natsServer(config.stack.natsUrl, config.stack.nats)],
      {
        timeoutMs: config.startupTimeoutMs,
        logger,
        signal: starting.signal,
      },
    );
  } catch (error) {
    if (stopping) return;
    throw error;
  }
  await ensureDatabase(config.stack.databaseUrl);
  const pool = createPool(config.stack.databaseUrl, { max: 1 });
  try {
    await migrateEventStore(pool);
  } finally {
    await pool.end();
  }
  if (stopping) return;
  relay.start();
  logger.info(
    { metricsPort: ops.port, namespace: config.stack.namespace, stream: ordersBus(config.stack.namespace).stream },
    "outbox-relay started",
  );
}

runService("outbox-relay", process.env, readConfig, main);
