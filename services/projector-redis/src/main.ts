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
  CUSTOMER_ORDERS,
  CUSTOMER_ORDERS_VERSION,
  CustomerOrdersProjection,
  CustomerOrdersRebuild,
  customerOrdersKeys,
  migrateReadModels,
  PostgresEventLog,
} from "@orderly/order-read-models";
import { Projector, rebuildProjection } from "@orderly/projector";
import { Redis } from "ioredis";
import { Counter, Registry } from "prom-client";
import { readProjectorConfig } from "./config.js";

const logger = createLogger("projector-redis");

async function main(): Promise<void> {
  const command = process.argv[2] ?? "run";
  if (command !== "run" && command !== "rebuild") {
    throw new ConfigError([`unknown command ${JSON.stringify(command)} (use "run" or "rebuild")`]);
  }
  const stack = readStackConfig(process.env);
  const config = readProjectorConfig(process.env);
  const metricsPort = readPort(process.env, "METRICS_PORT", 9405);

  await ensureDatabase(stack.databaseUrl);
  const pool = createPool(stack.databaseUrl, { max: 4 });
  await migrateEventStore(pool);
  await migrateReadModels(pool);
  const eventLog = new PostgresEventLog(pool);
  const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: false });
  const keys = customerOrdersKeys(stack.namespace);
  const rebuild = () =>
    rebuildProjection(new CustomerOrdersRebuild(redis, stack.namespace, eventLog), eventLog, {
      logger,
      batchSize: config.rebuildBatchSize,
    });

  if (command === "rebuild") {
    const result = await rebuild();
    await redis.set(`${keys.prefix}:version`, String(CUSTOMER_ORDERS_VERSION));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    redis.disconnect();
    await pool.end();
    return;
  }

  const registry = new Registry();
  const dataLost = new Counter({
    name: "projection_data_lost_total",
    help: "Times the read model store lost data and the projection started over from the event store",
    labelNames: ["projection"],
    registers: [registry],
  });
  const before = await redis.get(`${keys.prefix}:version`);
  const nc = await connect({ servers: stack.natsUrl, name: "projector-redis", maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  await ensureOrdersStream(jsm, stack.namespace);
  const projector = new Projector({
    projection: new CustomerOrdersProjection(redis, {
      namespace: stack.namespace,
      pool,
      logger,
      onDataLost: () => dataLost.inc({ projection: CUSTOMER_ORDERS }),
    }),
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
      consumer: `${stack.namespace}_${CUSTOMER_ORDERS}`,
      decode: (data, headers) => decodeEnvelope(data, headers),
    },
  });
  const ops = await startOpsServer({ port: metricsPort, registry, ready: () => projector.ready() });
  await projector.start();

  let rebuilding: Promise<unknown> | undefined;
  if (before !== null && before !== String(CUSTOMER_ORDERS_VERSION)) {
    logger.warn({ stored: before, code: CUSTOMER_ORDERS_VERSION }, "projection version changed: rebuilding");
    rebuilding = rebuild().then(
      async (result) => {
        await redis.set(`${keys.prefix}:version`, String(CUSTOMER_ORDERS_VERSION));
        logger.info({ result }, "rebuild done");
      },
      (error: unknown) => logger.error({ err: error }, "rebuild failed (restart to retry)"),
    );
  } else if (before === null) {
    await redis.set(`${keys.prefix}:version`, String(CUSTOMER_ORDERS_VERSION));
  }
  logger.info({ metricsPort: ops.port, namespace: stack.namespace }, "projector-redis ready");

  shutdownOnSignals(
    async () => {
      await projector.stop();
      await rebuilding;
      await ops.close();
      await nc.close();
      redis.disconnect();
      await pool.end();
    },
    { logger },
  );
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, error instanceof ConfigError ? error.message : "projector-redis failed to start");
  process.exit(1);
});
