import { eventIdsAt, readStoreStatus, StoreContinuity, StoreRecovery } from "@orderly/event-store-postgres";
import {
  CUSTOMER_ORDERS,
  ORDER_SUMMARIES,
  type ReadModelMark,
  readCustomerOrdersPartitionMarks,
  readOrderSummariesPartitionMarks,
  setCustomerOrdersCheckpoint,
  setOrderSummariesCheckpoint,
} from "@orderly/order-read-models";
import type { CliContext } from "./context.js";
import type { ReadModelName } from "./read-models.js";

// Where each read model's checkpoints stand (one per partition, ADR 0019), and moving them onto the store after it
// went back, each a compare-and-set.

/** A read model's partition marks, or why they cannot be read; customer_orders' highest high-water mark too. */
export interface ReadModelMarks {
  readonly name: ReadModelName;
  readonly marks: ReadModelMark[] | undefined;
  readonly error: string | undefined;
  readonly highWater: number | undefined;
}

/** Every read model's partition marks (one when unpartitioned), and the highest high-water mark of customer_orders. */
export async function readMarks(context: CliContext): Promise<ReadModelMarks[]> {
  const pool = await context.pool();
  const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
  const [summaries, customerOrders, highWater] = await Promise.all([
    readOrderSummariesPartitionMarks(pool).catch((error: unknown) => message(error)),
    context
      .redis()
      .then((redis) => readCustomerOrdersPartitionMarks(redis, context.stack.namespace))
      .catch((error: unknown) => message(error)),
    // Partition i > 0 records its own (`customer_orders.high_water.p<i>`, ADR 0019).
    pool
      .query<{ position: number | string | null }>(
        "select max(position) as position from projection_checkpoints where name = $1 or starts_with(name, $1 || '.p')",
        [`${CUSTOMER_ORDERS}.high_water`],
      )
      .then((r) => Number(r.rows[0]?.position ?? 0))
      .catch(() => 0),
  ]);
  const entry = (name: ReadModelName, value: ReadModelMark[] | string, hw?: number): ReadModelMarks =>
    typeof value === "string"
      ? { name, marks: undefined, error: value, highWater: hw }
      : { name, marks: value, error: undefined, highWater: hw };
  return [entry(ORDER_SUMMARIES, summaries), entry(CUSTOMER_ORDERS, customerOrders, highWater)];
}

/**
 * Sets a read model partition's checkpoint (0 when unpartitioned) when `when` approves of where it stands,
 * compare-and-set against that reading: a projector that moved it in between keeps its own.
 */
export async function setReadModelCheckpoint(
  context: CliContext,
  name: ReadModelName,
  partition: number,
  mark: ReadModelMark,
  when: (current: ReadModelMark) => boolean,
): Promise<boolean> {
  const current = (await readReadModelMarks(context, name))[partition];
  if (!current || !when(current)) return false;
  const pool = await context.pool();
  if (name === ORDER_SUMMARIES) return setOrderSummariesCheckpoint(pool, mark, current.position, partition);
  const redis = await context.redis();
  return setCustomerOrdersCheckpoint(redis, pool, context.stack.namespace, mark, current.position, partition);
}

/** Where each partition of a read model stands (entry i: partition i; one entry when unpartitioned). */
export async function readReadModelMarks(context: CliContext, name: ReadModelName): Promise<ReadModelMark[]> {
  const pool = await context.pool();
  if (name === ORDER_SUMMARIES) return readOrderSummariesPartitionMarks(pool);
  return readCustomerOrdersPartitionMarks(await context.redis(), context.stack.namespace);
}

export function sameMark(a: ReadModelMark, b: ReadModelMark): boolean {
  return a.position === b.position && a.eventId === b.eventId;
}

/**
 * Step 4 of `recover`: a read model's checkpoints onto the store. One the store does not hold (ahead of it, on another
 * event) moves onto the store: past the retired positions when there are some (forward, a mark without an event), else
 * onto its last event. One that stands on the last event below the retired positions moves past them too, so the old
 * stream's events there are dropped as covered. Each is a compare-and-set on what was read: a projector that applied a
 * newer event keeps its own, and a sound checkpoint left below the range steps over it by itself (catch-up skips
 * retired ranges). A partitioned read model (ADR 0019) settles every partition's checkpoint so, each on its own.
 */
export async function settleCheckpoints(
  context: CliContext,
  storeId: string,
  name: ReadModelName,
  step: (line: string) => void,
): Promise<void> {
  const count = (await readReadModelMarks(context, name)).length;
  for (let partition = 0; partition < count; partition++) {
    await settlePartition(context, storeId, name, partition, count, step);
  }
}

async function settlePartition(
  context: CliContext,
  storeId: string,
  name: ReadModelName,
  partition: number,
  count: number,
  step: (line: string) => void,
): Promise<void> {
  const pool = await context.pool();
  const current = (await readReadModelMarks(context, name))[partition];
  if (!current) return;
  const sound = (await new StoreContinuity(pool).check(current)).kind === "ok";
  const top = await new StoreRecovery(pool).lastEventPosition();
  // The positions past the store's last event are retired (up to the counter) when a recovery retired some.
  const tail = (await readStoreStatus(pool)).retired.reduce((end, r) => Math.max(end, r.last), 0);
  let mark: ReadModelMark | undefined;
  if (tail > top && (!sound || current.position === top) && current.position !== tail) {
    mark = { position: tail, eventId: undefined, storeId };
  } else if (!sound) {
    mark = { position: top, eventId: top === 0 ? undefined : (await eventIdsAt(pool, [top])).get(top), storeId };
  }
  if (mark && (await setReadModelCheckpoint(context, name, partition, mark, (now) => sameMark(now, current)))) {
    const which = count > 1 ? ` partition ${partition} of ${count}` : "";
    step(`${name}${which}: checkpoint moved from ${current.position} to ${mark.position}`);
  }
}
