export type { BulkFoldOptions, FoldProgress } from "./bulk-fold.js";
export { CustomerOrdersProjection, type CustomerOrdersProjectionOptions } from "./customer-orders.js";
export { partitionSuffix, writeCustomerOrdersCheckpoint } from "./customer-orders-apply.js";
export { hashToSummary } from "./customer-orders-hash.js";
export { RollingAudit } from "./customer-orders-integrity.js";
export { customerOrdersKeys, generationKeys } from "./customer-orders-keys.js";
export { listMember } from "./customer-orders-layout.js";
export { ensureRedisLayout, highestCheckpoint } from "./customer-orders-partitions.js";
export { RedisCheckpointReader, RedisCustomerOrdersReader } from "./customer-orders-readers.js";
export { CustomerOrdersRebuild, rebuildCustomerOrders } from "./customer-orders-rebuild.js";
export {
  dropGenerationKeys,
  type GenerationContents,
  type ListedEntry,
  readGenerationContents,
} from "./customer-orders-walk.js";
export { migrateReadModels } from "./migrate.js";
export {
  isTransientPgError,
  OrderSummariesProjection,
  type OrderSummariesProjectionOptions,
  PROJECTIONS_CHANNEL,
  writeOrderSummariesCheckpoint,
} from "./order-summaries.js";
export {
  OrderSummariesRebuild,
  type ReadModelRebuildOptions,
  type RebuildTargetOptions,
  rebuildOrderSummaries,
  storedVersion,
} from "./order-summaries-rebuild.js";
export {
  canonicalSummary,
  evolveSummary,
  type FoldableEvent,
  foldBatch,
  type OrderSummaryView,
  orderIdOf,
} from "./order-summary.js";
export { rowToSummary } from "./order-summary-rows.js";
export {
  ensurePostgresLayout,
  MIN_CHECKPOINT_SQL,
  PartitionLayoutError,
  partitionCheckpointName,
} from "./partitions.js";
export { PostgresCheckpointReader, PostgresOrderSummaryReader } from "./postgres-readers.js";
export {
  type ReadModelMark,
  type ReadModelSnapshot,
  readCustomerOrdersMark,
  readCustomerOrdersPartitionMarks,
  readCustomerOrdersSnapshot,
  readOrderSummariesMark,
  readOrderSummariesPartitionMarks,
  readOrderSummariesSnapshot,
  setCustomerOrdersCheckpoint,
  setOrderSummariesCheckpoint,
} from "./snapshots.js";
export { SummaryCache } from "./summary-cache.js";
export { screenUnknown } from "./unknown-types.js";
export { CUSTOMER_ORDERS, CUSTOMER_ORDERS_VERSION, ORDER_SUMMARIES, ORDER_SUMMARIES_VERSION } from "./versions.js";
