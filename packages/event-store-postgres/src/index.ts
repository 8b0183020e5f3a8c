export {
  arrayLiteral,
  integerElement,
  NULL_ELEMENT,
  quotedElement,
  timestampElement,
} from "./array-literals.js";
export { PostgresCommitTimes } from "./commit-times.js";
export {
  type ContinuityResult,
  type Divergence,
  describeDivergence,
  RECOVER_COMMAND,
  StoreContinuity,
  type StoreContinuityOptions,
  type StoreMark,
} from "./continuity.js";
export { type CreatePoolOptions, createPool, ensureDatabase, orderlyTypes, quoteIdentifier } from "./database.js";
export {
  COMMITS_CHANNEL,
  CommitNotifications,
  type CommitNotificationsOptions,
  type EventFeedPage,
  PostgresEventFeed,
  type PostgresEventFeedOptions,
} from "./event-feed.js";
export {
  type AppliedMigration,
  eventStoreMigrations,
  MIGRATION_LOCK_KEY,
  type MigrationOptions,
  migrateEventStore,
  runMigrations,
} from "./migrations.js";
export {
  isTransientPostgresError,
  type PostgresErrorKind,
  postgresErrorKind,
  QUERY_TIMEOUT_MESSAGE,
} from "./postgres-errors.js";
export { type AppendStats, PostgresEventStore, type PostgresEventStoreOptions } from "./postgres-event-store.js";
export { type FoldRow, PostgresEventLog } from "./projection-event-log.js";
export { RecoveryConflictError, StoreRecovery } from "./recovery.js";
export { RelayFence, type RelayFenceOptions, relayLockName } from "./relay-fence.js";
export { PostgresRelaySession, PostgresRelayStore } from "./relay-store.js";
export { mapDatabaseError } from "./statement-runner.js";
export {
  eventIdsAt,
  type RelayCheckpointRow,
  type RetiredRange,
  readRetiredRanges,
  readStoreStatus,
  type StoreStatus,
} from "./store-status.js";
