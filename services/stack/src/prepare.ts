import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ensureOrdersStream } from "@orderly/event-bus";
import { createPool, ensureDatabase, migrateEventStore } from "@orderly/event-store-postgres";
import type { Logger, StackConfig } from "@orderly/observability";
import { migrateReadModels } from "@orderly/order-read-models";

/** Creates the database if missing, runs every migration, and ensures the JetStream stream: all idempotent. */
export async function prepare(config: StackConfig, logger: Logger): Promise<void> {
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, { max: 2 });
  try {
    await migrateEventStore(pool);
    await migrateReadModels(pool);
  } finally {
    await pool.end();
  }
  logger.info("database ready (event store and read model migrations applied)");
  const nc = await connect({ ...config.nats, name: "orderly-stack" });
  try {
    const info = await ensureOrdersStream(await jetstreamManager(nc), config.namespace, {
      replicas: config.streamReplicas,
    });
    logger.info({ stream: info.config.name, subjects: info.config.subjects }, "JetStream stream ready");
  } finally {
    await nc.close();
  }
}
