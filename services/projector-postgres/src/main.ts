import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { decodeEnvelope, ensureOrdersStream, streamName } from "@orderly/event-bus";
import { createPool, ensureDatabase, migrateEventStore } from "@orderly/event-store-postgres";
import {
  ConfigError,
  createLogger,
  readPort,
  readStackConfig,
  shutdownOnSignals,
  startOpsServer,
} from "@orderly/observability";
import {
  migrateReadModels,
  ORDER_SUMMARIES,
  ORDER_SUMMARIES_VERSION,
  OrderSummariesProjection,
  OrderSummariesRebuild,
  PostgresEventLog,
  storedVersion,
} from "@orderly/order-read-models";
import { Projector, rebuildProjection } from "@orderly/projector";
import { Registry } from "prom-client";
import { readProjectorConfig } from "./config.js";

const logger = createLogger("projector-postgres");

async function main(): Promise<void> {
  const command = process.argv[2] ?? "run";
  if (command !== "run" && command !== "rebuild") {
    throw new ConfigError([`unknown command ${JSON.stringify(command)} (use "run" or "rebuild")`]);
  }
  const stack = readStackConfig(process.env);
  const config = readProjectorConfig(process.env);
  const metricsPort = readPort(process.env, "METRICS_PORT", 9404);

  await ensureDatabase(stack.databaseUrl);
  const pool = createPool(stack.databaseUrl, { max: 6 });
  await migrateEventStore(pool);
  await migrateReadModels(pool);
  const eventLog = new PostgresEventLog(pool);

  if (command === "rebuild") {
    const result = await rebuildProjection(new OrderSummariesRebuild(pool, eventLog), eventLog, {
      logger,
      batchSize: config.rebuildBatchSize,
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await pool.end();
    return;
  }

  const before = await storedVersion(pool, ORDER_SUMMARIES);
  const nc = await connect({ servers: stack.natsUrl, name: "projector-postgres", maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  await ensureOrdersStream(jsm, stack.namespace);
  const registry = new Registry();
  const projector = new Projector({
    projection: new OrderSummariesProjection(pool),
    eventLog,
    registry,
    logger,
    batchSize: config.batchSize,
    catchUpBatchSize: config.catchUpBatchSize,
    poisonRetryMs: config.poisonRetryMs,
    source: {
      js: jetstream(nc),
      jsm,
      stream: streamName(stack.namespace),
      consumer: `${stack.namespace}_${ORDER_SUMMARIES}`,
      decode: (data, headers) => decodeEnvelope(data, headers),
    },
  });
  const ops = await startOpsServer({ port: metricsPort, registry, ready: () => projector.ready() });
  await projector.start();

  let rebuilding: Promise<unknown> | undefined;
  if (before !== undefined && before !== ORDER_SUMMARIES_VERSION) {
    logger.warn({ stored: before, code: ORDER_SUMMARIES_VERSION }, "projection version changed: rebuilding");
    rebuilding = rebuildProjection(new OrderSummariesRebuild(pool, eventLog), eventLog, {
      logger,
      batchSize: config.rebuildBatchSize,
    }).then(
      (result) => logger.info({ result }, "rebuild done"),
      (error: unknown) => logger.error({ err: error }, "rebuild failed (restart to retry)"),
    );
  }
  logger.info({ metricsPort: ops.port, namespace: stack.namespace }, "projector-postgres ready");

  shutdownOnSignals(
    async () => {
      await projector.stop();
      await rebuilding;
      await ops.close();
      await nc.close();
      await pool.end();
    },
    { logger },
  );
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, error instanceof ConfigError ? error.message : "projector-postgres failed to start");
  process.exit(1);
});
