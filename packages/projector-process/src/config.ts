import { parsePartitionList } from "@orderly/eventsourcing";
import { ConfigError, readInteger } from "@orderly/observability";
import { parseUnknownEventTypes, type UnknownEventTypes, unknownEventTypesModes } from "@orderly/projector";

export interface ProjectorConfig {
  /** Most live events per transaction: PROJECTOR_BATCH_SIZE, default 100. */
  readonly batchSize: number;
  /** Events per transaction when catching up from the event store: PROJECTOR_CATCH_UP_BATCH_SIZE, default 2000. */
  readonly catchUpBatchSize: number;
  /** Events per rebuild batch: PROJECTOR_REBUILD_BATCH_SIZE, default 5000. */
  readonly rebuildBatchSize: number;
  /** How often a poisoned projection retries its event: PROJECTOR_POISON_RETRY_MS, default 5000. */
  readonly poisonRetryMs: number;
  /**
   * How long JetStream waits for an ack before it redelivers: PROJECTOR_ACK_WAIT_MS, default 60000. Applies when the
   * durable consumer is created (a fresh namespace); fault tests shorten it to stop a projector past it.
   */
  readonly ackWaitMs: number;
  /**
   * `customer_orders` (Redis) partial-loss detection (ADR 0007): how often the O(1) check and a share of the rolling
   * audit run, PROJECTOR_REDIS_CHECK_INTERVAL_MS, default 5000; and how long one audit pass over every key takes,
   * PROJECTOR_REDIS_AUDIT_PASS_MS, default 60000 (0: no audit). Any partial loss is found within pass + interval.
   */
  readonly redisCheckIntervalMs: number;
  readonly redisAuditPassMs: number;
  /**
   * An event type this release does not know (written by a newer one): `stop` at it as at a poison event (default), or
   * `skip` it (counted by type in projector_unknown_events_skipped_total, logged once per type, readiness unaffected;
   * the checkpoint moves past it). PROJECTOR_UNKNOWN_EVENT_TYPES.
   */
  readonly unknownEventTypes: UnknownEventTypes;
  /**
   * How many partitions the read model is split into (ADR 0019): PROJECTOR_PARTITIONS, default 1 (unpartitioned, as
   * before). An order belongs to partition fnv1a32(order id) mod N; each partition has its own checkpoint.
   */
  readonly partitions: number;
  /**
   * The partitions this instance applies, statically: PROJECTOR_PARTITION, one index or a comma list (`0,2`).
   * Unset: with 1 partition every instance applies it (as before); with more, instances claim partitions through
   * Postgres advisory locks and share them evenly, taking over a dead instance's.
   */
  readonly partitionList: readonly number[] | undefined;
  /** How often an instance looks at the partition leases and rebalances: PROJECTOR_LEASE_INTERVAL_MS, default 2000. */
  readonly leaseIntervalMs: number;
}

export function readProjectorConfig(env: Record<string, string | undefined>): ProjectorConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number =>
    readInteger(env, name, fallback, min, max, problems);
  const config = {
    batchSize: int("PROJECTOR_BATCH_SIZE", 100, 1, 10_000),
    catchUpBatchSize: int("PROJECTOR_CATCH_UP_BATCH_SIZE", 2000, 1, 50_000),
    rebuildBatchSize: int("PROJECTOR_REBUILD_BATCH_SIZE", 5000, 1, 50_000),
    poisonRetryMs: int("PROJECTOR_POISON_RETRY_MS", 5000, 10, 3_600_000),
    ackWaitMs: int("PROJECTOR_ACK_WAIT_MS", 60_000, 1000, 3_600_000),
    redisCheckIntervalMs: int("PROJECTOR_REDIS_CHECK_INTERVAL_MS", 5000, 10, 3_600_000),
    redisAuditPassMs: int("PROJECTOR_REDIS_AUDIT_PASS_MS", 60_000, 0, 86_400_000),
    partitions: int("PROJECTOR_PARTITIONS", 1, 1, 1024),
    partitionList: undefined as readonly number[] | undefined,
    leaseIntervalMs: int("PROJECTOR_LEASE_INTERVAL_MS", 2000, 50, 600_000),
    unknownEventTypes: parseUnknownEventTypes(env.PROJECTOR_UNKNOWN_EVENT_TYPES) ?? "stop",
  };
  const list = env.PROJECTOR_PARTITION?.trim();
  if (list !== undefined && list !== "") {
    const parsed = parsePartitionList(list, config.partitions);
    if (typeof parsed === "string") problems.push(`PROJECTOR_PARTITION: ${parsed}`);
    else config.partitionList = parsed;
  }
  if (parseUnknownEventTypes(env.PROJECTOR_UNKNOWN_EVENT_TYPES) === undefined) {
    problems.push(
      `PROJECTOR_UNKNOWN_EVENT_TYPES must be one of ${unknownEventTypesModes.join(", ")} (got ${JSON.stringify(env.PROJECTOR_UNKNOWN_EVENT_TYPES)})`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
