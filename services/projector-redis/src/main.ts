import { createRedisClient } from "@orderly/observability";
import {
  CUSTOMER_ORDERS,
  CUSTOMER_ORDERS_VERSION,
  CustomerOrdersProjection,
  CustomerOrdersRebuild,
  customerOrdersKeys,
  ensureRedisLayout,
} from "@orderly/order-read-models";
import { rebuildProjection } from "@orderly/projector";
import { runProjectorProcess } from "@orderly/projector-process";
import { Counter } from "prom-client";

// The customer_orders projector process; everything else is the shared composition root (@orderly/projector-process).
runProjectorProcess(
  {
    name: "projector-redis",
    projection: CUSTOMER_ORDERS,
    defaultMetricsPort: 9405,
    poolMax: 4,
    usesRedis: true,
    setup: ({ stack, pool, eventLog, logger, config, registry, storeId, unknownTypes }) => {
      // One server, or a Redis Cluster when REDIS_URL lists its seeds (every script stays in the namespace's slot).
      const redis = createRedisClient(stack.redisUrl, stack.redis, {
        maxRetriesPerRequest: null,
        enableAutoPipelining: false,
      });
      const versionKey = `${customerOrdersKeys(stack.namespace).prefix}:version`;
      const dataLost = new Counter({
        name: "projection_data_lost_total",
        help: "Times the read model store lost data (kind: total, or partial = some keys gone) and the projection started over from the event store",
        labelNames: ["projection", "kind"],
        registers: [registry],
      });
      for (const kind of ["total", "partial"]) dataLost.inc({ projection: CUSTOMER_ORDERS, kind }, 0);
      return {
        projection: (partition) =>
          new CustomerOrdersProjection(redis, {
            partition,
            namespace: stack.namespace,
            pool,
            logger,
            storeId,
            unknownTypes,
            checkIntervalMs: config.redisCheckIntervalMs,
            auditPassMs: config.redisAuditPassMs,
            onDataLost: (_reason, kind) => dataLost.inc({ projection: CUSTOMER_ORDERS, kind }),
          }),
        ensureLayout: (count) => ensureRedisLayout(redis, stack.namespace, count),
        // Laid out for PROJECTOR_PARTITIONS: how a read model changes its partition count (ADR 0019). Unknown event
        // types as the live projection (PROJECTOR_UNKNOWN_EVENT_TYPES).
        rebuild: () =>
          rebuildProjection(
            new CustomerOrdersRebuild(redis, stack.namespace, eventLog, {
              storeId,
              partitions: config.partitions,
              unknownTypes,
            }),
            eventLog,
            { logger, batchSize: config.rebuildBatchSize },
          ),
        // The version lives beside the read model in Redis.
        storedVersion: async () => (await redis.get(versionKey)) ?? undefined,
        codeVersion: String(CUSTOMER_ORDERS_VERSION),
        markVersion: async () => {
          await redis.set(versionKey, String(CUSTOMER_ORDERS_VERSION));
        },
        close: () => redis.disconnect(),
      };
    },
  },
  { args: process.argv.slice(2), env: process.env },
);
