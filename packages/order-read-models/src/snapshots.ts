import type { Redis } from "ioredis";
import type pg from "pg";
import { partitionSuffix } from "./customer-orders-apply.js";
import { checkGeneration } from "./customer-orders-integrity.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { readGenerationContents } from "./customer-orders-walk.js";
import type { OrderSummaryView } from "./order-summary.js";
import { rowToSummary } from "./order-summary-rows.js";
import { partitionCheckpointName } from "./partitions.js";
import { CUSTOMER_ORDERS, ORDER_SUMMARIES } from "./versions.js";

/** Where a read model stands: its checkpoint and, where recorded, the event it stands on and the store it came from. */
export interface ReadModelMark {
  readonly position: number;
  readonly eventId: string | undefined;
  readonly storeId: string | undefined;
}

/** A whole read model as of one checkpoint: what `pnpm orderly verify` compares with a fresh fold of the store. */
export interface ReadModelSnapshot {
  readonly name: string;
  readonly mark: ReadModelMark;
  readonly summaries: ReadonlyMap<string, OrderSummaryView>;
  /**
   * Rows may stand past `mark.position` (up to `movedTo`): Redis, the checkpoint moved (or a rebuild swapped
   * generations) while the snapshot was read; a partitioned read model, its other partitions are further on.
   */
  readonly movedTo?: number;
  /** Redis only: orders not listed exactly once, under their own customer, with their own list member. */
  readonly listProblems?: readonly { readonly orderId: string; readonly problem: string }[];
  /**
   * Redis only: what the O(1) partial-loss check found amiss in the generation's own bookkeeping (its counts, index,
   * per-customer entry counts, mark, or a writer's `lost` flag: customer-orders-integrity.ts); undefined when whole.
   */
  readonly keyProblem?: string;
}

/** `order_summaries` and its checkpoint row read in one repeatable-read snapshot (exact, even while the projector runs). */
export async function readOrderSummariesSnapshot(pool: pg.Pool): Promise<ReadModelSnapshot> {
  const client = await pool.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    // Partitioned (ADR 0019): the lowest partition's checkpoint is the read model's; rows of partitions further on
    // stand past it, up to the furthest (`movedTo`), as rows written meanwhile do.
    const checkpoint = await client.query<{ row: Record<string, unknown> }>(
      `select to_jsonb(c) as row from projection_checkpoints c where name = $1 or starts_with(name, $1 || '.p')
        order by position, name`,
      [ORDER_SUMMARIES],
    );
    const rows = await client.query(
      `select order_id, customer_id, status, payment_status, currency, total_minor, paid_minor, item_count, version,
        created_at, updated_at, last_position, placed_position, placed_by from ${ORDER_SUMMARIES}`,
    );
    await client.query("commit");
    const summaries = new Map<string, OrderSummaryView>();
    for (const row of rows.rows) summaries.set(row.order_id, rowToSummary(row));
    const mark = markOf(checkpoint.rows[0]?.row);
    const furthest = markOf(checkpoint.rows.at(-1)?.row).position;
    return { name: ORDER_SUMMARIES, mark, summaries, ...(furthest > mark.position ? { movedTo: furthest } : {}) };
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

function markOf(row: Record<string, unknown> | undefined): ReadModelMark {
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  return { position: Number(row?.position ?? 0), eventId: text(row?.event_id), storeId: text(row?.store_id) };
}

/**
 * The live generation of `customer_orders`: every indexed customer's list and every listed order's hash, read through
 * the generation's index, never by SCAN (customer-orders-walk.ts), and the checkpoint before and after (Redis has no
 * snapshot; `movedTo` tells when the projector wrote meanwhile).
 */
export async function readCustomerOrdersSnapshot(
  redis: Redis,
  namespace: string,
  onProgress?: (orders: number) => void,
): Promise<ReadModelSnapshot> {
  const keys = customerOrdersKeys(namespace);
  const gen = await redis.get(keys.current);
  if (gen === null) return { name: CUSTOMER_ORDERS, mark: markOf(undefined), summaries: new Map(), listProblems: [] };
  const g = keys.generation(gen);
  const [checkpoint, mark] = await Promise.all([redis.get(`${g}:checkpoint`), redis.hgetall(`${g}:mark`)]);
  const before = Number(checkpoint ?? 0);
  const [{ summaries, listed }, keyProblem] = await Promise.all([
    readGenerationContents(redis, g),
    checkGeneration(redis, g),
  ]);
  onProgress?.(summaries.size);
  const [genAfter, checkpointAfter] = await Promise.all([redis.get(keys.current), redis.get(`${g}:checkpoint`)]);
  const after = Number(checkpointAfter ?? 0);
  const listProblems: { orderId: string; problem: string }[] = [];
  // Hashes are read before lists: an order the projector placed meanwhile (after the checkpoint read first, up to the
  // one read last) may be listed without its hash in this read. Like rows written while reading, it is not a problem.
  const placedWhileReading = (placed: number) => genAfter === gen && placed > before && placed <= after;
  for (const [orderId, entry] of listed) {
    const s = summaries.get(orderId);
    if (!s && placedWhileReading(placedPositionOf(entry.member))) continue;
    if (!s) listProblems.push({ orderId, problem: `listed under ${entry.customerId} but has no hash` });
    else if (entry.count !== 1) listProblems.push({ orderId, problem: `listed ${entry.count} times` });
    else if (entry.customerId !== s.customerId) {
      listProblems.push({ orderId, problem: `listed under ${entry.customerId}, belongs to ${s.customerId}` });
    }
  }
  for (const [orderId, summary] of summaries) {
    if (listed.has(orderId) || placedWhileReading(summary.placedPosition)) continue;
    listProblems.push({ orderId, problem: "in no customer's list" });
  }
  const markMatches = mark.p === String(before);
  return {
    name: CUSTOMER_ORDERS,
    mark: {
      position: before,
      eventId: markMatches && mark.e ? mark.e : undefined,
      storeId: markMatches && mark.s ? mark.s : undefined,
    },
    summaries,
    listProblems,
    ...(keyProblem !== undefined ? { keyProblem } : {}),
    ...(genAfter !== gen || after !== before ? { movedTo: genAfter !== gen ? Number.MAX_SAFE_INTEGER : after } : {}),
  };
}

/** The placed position a list member encodes (`listMember` of customer-orders-layout.ts: `<time>:<MAX − position>:<id>`). */
function placedPositionOf(member: string): number {
  return Number.MAX_SAFE_INTEGER - Number(member.slice(14, 30));
}

const HIGH_WATER = `${CUSTOMER_ORDERS}.high_water`;

/** Where `order_summaries` stands (its checkpoint row), without reading the rows. */
export async function readOrderSummariesMark(pool: pg.Pool): Promise<ReadModelMark> {
  const result = await pool.query<{ row: Record<string, unknown> }>(
    "select to_jsonb(c) as row from projection_checkpoints c where name = $1",
    [ORDER_SUMMARIES],
  );
  return markOf(result.rows[0]?.row);
}

/**
 * Where each partition of `order_summaries` stands (ADR 0019): entry i is partition i's checkpoint row, as many as
 * the base row records (one when unpartitioned, or when the model has no row yet). The read model's position is the
 * lowest of them.
 */
export async function readOrderSummariesPartitionMarks(pool: pg.Pool): Promise<ReadModelMark[]> {
  const result = await pool.query<{ name: string; row: Record<string, unknown> }>(
    "select name, to_jsonb(c) as row from projection_checkpoints c where name = $1 or starts_with(name, $1 || '.p')",
    [ORDER_SUMMARIES],
  );
  const rows = new Map(result.rows.map((r) => [r.name, r.row]));
  const count = Math.max(1, Number(rows.get(ORDER_SUMMARIES)?.partitions ?? 1));
  return Array.from({ length: count }, (_, i) => markOf(rows.get(partitionCheckpointName(ORDER_SUMMARIES, i))));
}

/**
 * Where each partition of the live generation of `customer_orders` stands (ADR 0019): entry i is `:checkpoint:p<i>`
 * and its mark (`:checkpoint` for 0), as many as the generation's `:partitions` records (absent = 1; none without a
 * generation).
 */
export async function readCustomerOrdersPartitionMarks(redis: Redis, namespace: string): Promise<ReadModelMark[]> {
  const keys = customerOrdersKeys(namespace);
  const gen = await redis.get(keys.current);
  if (gen === null) return [markOf(undefined)];
  const g = keys.generation(gen);
  const count = Math.max(1, Number((await redis.get(`${g}:partitions`)) ?? 1));
  return Promise.all(Array.from({ length: count }, (_, i) => readGenerationMark(redis, g, i)));
}

/** Partition `index`'s checkpoint in generation `g`, with its mark where the mark stands on that checkpoint. */
async function readGenerationMark(redis: Redis, g: string, index: number): Promise<ReadModelMark> {
  const suffix = partitionSuffix(index);
  const [checkpoint, mark] = await Promise.all([
    redis.get(`${g}:checkpoint${suffix}`),
    redis.hgetall(`${g}:mark${suffix}`),
  ]);
  const position = Number(checkpoint ?? 0);
  const matches = mark.p === String(position);
  return {
    position,
    eventId: matches && mark.e ? mark.e : undefined,
    storeId: matches && mark.s ? mark.s : undefined,
  };
}

/** Where the live generation of `customer_orders` stands (0 when Redis holds none). */
export async function readCustomerOrdersMark(redis: Redis, namespace: string): Promise<ReadModelMark> {
  const keys = customerOrdersKeys(namespace);
  const gen = await redis.get(keys.current);
  if (gen === null) return markOf(undefined);
  return readGenerationMark(redis, keys.generation(gen), 0);
}

/**
 * Moves `order_summaries`' checkpoint to `mark`, backwards too (recovery: a checkpoint past what the store holds is
 * put back on the store before the rebuild, and moved past retired positions after it). The epoch moves with it, so
 * a live writer drops what it cached. Nothing when the model has no checkpoint row yet. With `expected`, only when the
 * checkpoint still stands there (compare-and-set: a projector that moved it meanwhile keeps its own); true when set.
 * `partition` names the partition's row (ADR 0019: `order_summaries.p<i>`; 0, the default, is the base row).
 */
export async function setOrderSummariesCheckpoint(
  pool: pg.Pool,
  mark: ReadModelMark,
  expected?: number,
  partition = 0,
): Promise<boolean> {
  const columns = await pool.query<{ column_name: string }>(
    `select column_name from information_schema.columns
      where table_schema = current_schema() and table_name = 'projection_checkpoints'
        and column_name in ('event_id', 'store_id')`,
  );
  const has = new Set(columns.rows.map((r) => r.column_name));
  const sets = ["position = $2", "epoch = epoch + 1", "updated_at = now()"];
  const values: unknown[] = [partitionCheckpointName(ORDER_SUMMARIES, partition), mark.position];
  if (has.has("event_id")) sets.push(`event_id = $${values.push(mark.eventId ?? null)}`);
  if (has.has("store_id")) sets.push(`store_id = $${values.push(mark.storeId ?? null)}`);
  const guard = expected === undefined ? "" : ` and position = $${values.push(expected)}`;
  const result = await pool.query(
    `update projection_checkpoints set ${sets.join(", ")} where name = $1${guard}`,
    values,
  );
  return (result.rowCount ?? 0) > 0;
}

/**
 * Moves the live generation's checkpoint of `customer_orders` (and its mark) to `mark`, and its high-water mark in
 * Postgres with it (else the projector would take the lower checkpoint for lost data and start over from 0). With
 * `expected`, only when the checkpoint still stands there (compare-and-set); true when set. `partition` names the
 * partition's keys (ADR 0019: `:checkpoint:p<i>`, `:mark:p<i>`, high water `.p<i>`; 0, the default, the base ones).
 */
export async function setCustomerOrdersCheckpoint(
  redis: Redis,
  pool: pg.Pool,
  namespace: string,
  mark: ReadModelMark,
  expected?: number,
  partition = 0,
): Promise<boolean> {
  const keys = customerOrdersKeys(namespace);
  const gen = await redis.get(keys.current);
  const suffix = partitionSuffix(partition);
  if (gen !== null) {
    const g = keys.generation(gen);
    // Compare-and-set on the live generation's checkpoint (its pointer, and its partition count): WATCH, check,
    // MULTI/EXEC.
    const watcher = redis.duplicate();
    try {
      await watcher.watch(keys.current, `${g}:checkpoint${suffix}`, `${g}:partitions`);
      const [now, checkpoint, count] = await Promise.all([
        watcher.get(keys.current),
        watcher.get(`${g}:checkpoint${suffix}`),
        watcher.get(`${g}:partitions`),
      ]);
      if (
        now !== gen ||
        partition >= Number(count ?? 1) ||
        (expected !== undefined && Number(checkpoint ?? 0) !== expected)
      ) {
        await watcher.unwatch();
        return false;
      }
      const done = await watcher
        .multi()
        .set(`${g}:checkpoint${suffix}`, String(mark.position))
        .hset(`${g}:mark${suffix}`, "p", String(mark.position), "e", mark.eventId ?? "", "s", mark.storeId ?? "")
        .exec();
      if (done === null) return false;
    } finally {
      watcher.disconnect();
    }
  }
  await pool.query(
    `insert into projection_checkpoints (name, position) values ($1, $2)
     on conflict (name) do update set position = excluded.position, updated_at = now()`,
    [partition === 0 ? HIGH_WATER : `${HIGH_WATER}.p${partition}`, mark.position],
  );
  return true;
}
