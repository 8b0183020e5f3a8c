import { ownsStream, type PartitionSpec, type Position, type RecordedEvent, WHOLE } from "@orderly/eventsourcing";
import { type CheckpointMark, stopAtUnknownTypes, type UnknownEventPolicy } from "@orderly/projector";
import type { Redis } from "ioredis";
import { hashToSummary } from "./customer-orders-hash.js";
import type { customerOrdersKeys } from "./customer-orders-keys.js";
import { packRows } from "./customer-orders-layout.js";
import type { ScriptRedis } from "./customer-orders-scripts.js";
import { foldBatch, ordersNeedingState } from "./order-summary.js";
import { SummaryCache } from "./summary-cache.js";
import { screenUnknown } from "./unknown-types.js";

/**
 * Writes the checkpoint of generation `gen` with its mark, outside a batch (a new generation, a rebuild's final
 * checkpoint). The apply script writes the same two keys with every batch.
 */
export async function writeCustomerOrdersCheckpoint(
  redis: Redis,
  keys: ReturnType<typeof customerOrdersKeys>,
  gen: string,
  mark: CheckpointMark,
): Promise<void> {
  const g = keys.generation(gen);
  await redis
    .multi()
    .set(`${g}:checkpoint`, String(mark.position))
    .hset(`${g}:mark`, "p", String(mark.position), "e", mark.eventId ?? "", "s", mark.storeId ?? "")
    .exec();
}

/** The key suffix of a partition's checkpoint and mark: none for partition 0, `:p<i>` for the others. */
export function partitionSuffix(index: number): string {
  return index === 0 ? "" : `:p${index}`;
}

/**
 * Writes a batch into generation `gen` of `customer_orders` (live: checks the pointer and the swap lock), with the
 * checkpoint's mark (the last event's id, and `storeId` when known). A partition folds only its orders' events and
 * moves its own checkpoint over the whole batch; the script refuses a generation laid out for another count.
 */
export async function applyToGeneration(
  redis: ScriptRedis,
  keys: ReturnType<typeof customerOrdersKeys>,
  gen: string,
  events: readonly RecordedEvent[],
  after: Position,
  mode: "live" | "shadow",
  cache: SummaryCache = new SummaryCache(0),
  storeId = "",
  onAbsent?: (orderIds: readonly string[]) => Promise<void>,
  unknownTypes: UnknownEventPolicy = stopAtUnknownTypes,
  partition: PartitionSpec = WHOLE,
): Promise<[string, string]> {
  const last = events[events.length - 1];
  if (!last) return ["ok", String(after)];
  // Skipped unknown types and other partitions' orders still move the checkpoint (to `last`); only the fold passes
  // them over.
  const own = partition.count === 1 ? events : events.filter((e) => ownsStream(partition, e.streamId));
  const folded = screenUnknown(own, unknownTypes);
  const ids = ordersNeedingState(folded);
  const g = keys.generation(gen);
  const { found: current, missing } = cache.lookup(ids);
  if (missing.length > 0) {
    const pipeline = redis.pipeline();
    for (const id of missing) pipeline.hgetall(`${g}:o:${id}`);
    const loaded = (await pipeline.exec()) ?? [];
    missing.forEach((id, i) => {
      const [error, h] = loaded[i] ?? [];
      if (error) throw error;
      const summary = hashToSummary(id, h as Record<string, string>);
      if (summary) current.set(id, summary);
    });
    // An order placed before this batch has a hash: none means it vanished (or the log is broken: the caller decides).
    const absent = missing.filter((id) => !current.has(id));
    if (absent.length > 0 && onAbsent) await onAbsent(absent);
  }
  const changed = foldBatch(current, folded, unknownTypes);
  let outcome: [string, string];
  try {
    outcome = await redis.orderlyApply(
      keys.prefix,
      gen,
      String(after),
      String(last.position),
      keys.channel,
      mode,
      packRows(changed.values()),
      last.metadata.eventId,
      storeId,
      partitionSuffix(partition.index),
      String(partition.count),
    );
  } catch (error) {
    cache.clear();
    throw error;
  }
  if (outcome[0] === "ok") {
    for (const summary of current.values()) cache.remember(summary);
    for (const summary of changed.values()) cache.remember(summary);
  } else {
    cache.clear();
  }
  return outcome;
}
