import {
  ensurePostgresLayout,
  ORDER_SUMMARIES,
  ORDER_SUMMARIES_VERSION,
  OrderSummariesProjection,
  OrderSummariesRebuild,
  storedVersion,
} from "@orderly/order-read-models";
import { rebuildProjection } from "@orderly/projector";
import { runProjectorProcess } from "@orderly/projector-process";

// The order_summaries projector process; everything else is the shared composition root (@orderly/projector-process).
runProjectorProcess(
  {
    name: "projector-postgres",
    projection: ORDER_SUMMARIES,
    defaultMetricsPort: 9404,
    poolMax: 6,
    setup: ({ pool, eventLog, logger, config, storeId, unknownTypes }) => ({
      projection: (partition) => new OrderSummariesProjection(pool, { storeId, unknownTypes, partition }),
      ensureLayout: (count) => ensurePostgresLayout(pool, ORDER_SUMMARIES, count, ORDER_SUMMARIES_VERSION),
      // Laid out for PROJECTOR_PARTITIONS: how a read model changes its partition count (ADR 0019). Unknown event types
      // as the live projection (PROJECTOR_UNKNOWN_EVENT_TYPES).
      rebuild: () =>
        rebuildProjection(
          new OrderSummariesRebuild(pool, eventLog, ORDER_SUMMARIES_VERSION, {
            storeId,
            partitions: config.partitions,
            unknownTypes,
          }),
          eventLog,
          { logger, batchSize: config.rebuildBatchSize },
        ),
      // The rebuild's swap records the version with the checkpoint.
      storedVersion: () => storedVersion(pool, ORDER_SUMMARIES),
      codeVersion: ORDER_SUMMARIES_VERSION,
    }),
  },
  { args: process.argv.slice(2), env: process.env },
);
