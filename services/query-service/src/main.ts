import { insecureWarning, isSecured } from "@orderly/grpc-server";
import { runService, type ServiceStart, shutdownOnSignals } from "@orderly/observability";
import {
  migrateReadModels,
  PostgresCheckpointReader,
  PostgresOrderSummaryReader,
  RedisCheckpointReader,
  RedisCustomerOrdersReader,
} from "@orderly/order-read-models";
import type pg from "pg";
import { startQueryService } from "./app.js";
import { BatchingOrderSummaryReader } from "./batching-reader.js";
import { type QueryServiceConfig, readQueryServiceConfig } from "./config.js";
import { PostgresOrderSummaryBatchReader } from "./pg-summary-batch-reader.js";
import type { OrderSummaryReader } from "./read-models.js";

// Composition root of the QueryService: configuration, the read-model readers, and the service (app.ts).

async function main({ config, logger, tracing }: ServiceStart<QueryServiceConfig>): Promise<void> {
  if (!isSecured(config.security)) logger.warn(insecureWarning(`${config.host}:${config.grpcPort}`));
  const service = await startQueryService({
    config,
    logger,
    readers: ({ pool, redis, namespace }) => ({
      summaries: summariesReader(pool, config.batchReads),
      customerOrders: new RedisCustomerOrdersReader(redis, namespace),
      summariesCheckpoint: new PostgresCheckpointReader(pool, "order_summaries"),
      customerOrdersCheckpoint: new RedisCheckpointReader(redis, namespace),
    }),
    // The read models' tables may not exist yet when the query side starts first: create them (idempotent).
    prepare: ({ pool }) => migrateReadModels(pool),
    tracer: tracing.tracer,
  });
  shutdownOnSignals(
    async (signal) => {
      logger.info({ signal }, "query-service stopping: no new calls, finishing the ones in flight");
      await service.close(5_000);
      await tracing.shutdown();
      logger.info("query-service stopped");
    },
    { logger, timeoutMs: 10_000 },
  );
}

runService("query-service", process.env, readQueryServiceConfig, main);

/**
 * GetOrderSummary's reader: concurrent reads share one query (ADR 0008) unless QUERY_BATCH_READS is off; a partitioned
 * `order_summaries` also answers with the owning partition's checkpoint (ADR 0019).
 */
function summariesReader(pool: pg.Pool, batchReads: boolean): OrderSummaryReader {
  const byId = new PostgresOrderSummaryReader(pool);
  const reads = batchReads ? new BatchingOrderSummaryReader(new PostgresOrderSummaryBatchReader(pool)) : byId;
  return {
    getOrderSummary: (orderId) => reads.getOrderSummary(orderId),
    partitionCheckpoint: (orderId) => byId.partitionCheckpoint(orderId),
  };
}
