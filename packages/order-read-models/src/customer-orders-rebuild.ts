import { PostgresEventLog } from "@orderly/event-store-postgres";
import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import {
  type EventLog,
  type RebuildResult,
  type RebuildTarget,
  rebuildProjection,
  sleep,
  type Verification,
} from "@orderly/projector";
import type { Redis } from "ioredis";
import type pg from "pg";
import { BulkFold, type FoldMark, foldSourceOf, type ShadowWriter } from "./bulk-fold.js";
import { applyToGeneration, writeCustomerOrdersCheckpoint } from "./customer-orders-apply.js";
import { hashToSummary } from "./customer-orders-hash.js";
import { customerOrdersKeys, slotScript } from "./customer-orders-keys.js";
import { initGeneration, layOutGeneration, listMember, PACKED_ROW_WIDTH, packRows } from "./customer-orders-layout.js";
import { highestCheckpoint } from "./customer-orders-partitions.js";
import { WRITE_ROWS_LUA, withScripts } from "./customer-orders-scripts.js";
import { dropGenerationKeys, readGenerationContents } from "./customer-orders-walk.js";
import { type ReadModelRebuildOptions, type RebuildTargetOptions, storeIdOf } from "./order-summaries-rebuild.js";
import type { OrderSummaryView } from "./order-summary.js";
import { SummaryCache } from "./summary-cache.js";
import { checksumSummaries, foldEventLog } from "./verification.js";
import { CUSTOMER_ORDERS } from "./versions.js";

/**
 * Rebuilds `customer_orders` from the event store (in `pool`) into a new Redis key generation with no downtime (the
 * CLI's `rebuild customer_orders`, recovery, the projector on a version change): bulk fold, verification, swap.
 */
export async function rebuildCustomerOrders(
  redis: Redis,
  namespace: string,
  pool: pg.Pool,
  options: ReadModelRebuildOptions = {},
): Promise<RebuildResult> {
  const eventLog = new PostgresEventLog(pool);
  const storeId = options.storeId ?? (await storeIdOf(pool));
  return rebuildProjection(new CustomerOrdersRebuild(redis, namespace, eventLog, { ...options, storeId }), eventLog, {
    batchSize: options.pageSize ?? 20_000,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.verify !== undefined ? { verify: options.verify } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

/**
 * Writes summaries into a generation without touching its checkpoint: the HSET/ZADD loop of the live apply script
 * (with the generation's index and counts, which the partial-loss checks compare: customer-orders-integrity.ts),
 * fed the same way (one JSON array of strings, `packRows`), which costs Node about half the CPU of a pipeline with
 * 28 arguments per order.
 */
const WRITE_SCRIPT = `
local g = ARGV[1]
local d = cjson.decode(ARGV[2])
${WRITE_ROWS_LUA}return #d / ${PACKED_ROW_WIDTH}
`;

/**
 * A shadow generation as the bulk fold writes it: one script call per batch writes each order's whole hash and its
 * list member (a later write of an order rewrites the same fields and the same member; one connection keeps the
 * writes in order).
 */
type WriterRedis = Redis & { orderlyWriteRows(g: string, rows: string): Promise<number> };

class GenerationWriter implements ShadowWriter {
  private readonly redis: WriterRedis;

  constructor(
    redis: Redis,
    private readonly keys: ReturnType<typeof customerOrdersKeys>,
    private readonly gen: string,
    private readonly storeId: () => string | undefined,
  ) {
    const r = redis as WriterRedis;
    if (typeof r.orderlyWriteRows !== "function") {
      redis.defineCommand("orderlyWriteRows", slotScript(WRITE_SCRIPT));
    }
    this.redis = r;
  }

  async write(rows: readonly OrderSummaryView[]): Promise<void> {
    const g = this.keys.generation(this.gen);
    const written = await this.redis.orderlyWriteRows(g, packRows(rows));
    if (written !== rows.length) throw new Error(`${g}: wrote ${written} of ${rows.length} summaries`);
  }

  async load(orderIds: readonly string[]): Promise<Map<string, OrderSummaryView>> {
    const pipeline = this.redis.pipeline();
    for (const id of orderIds) pipeline.hgetall(`${this.keys.generation(this.gen)}:o:${id}`);
    const results = (await pipeline.exec()) ?? [];
    const loaded = new Map<string, OrderSummaryView>();
    orderIds.forEach((id, i) => {
      const [error, h] = results[i] ?? [];
      if (error) throw error;
      const summary = hashToSummary(id, h as Record<string, string>);
      if (summary) loaded.set(id, summary);
    });
    return loaded;
  }

  /** Through the read model's own checkpoint writer, so the generation's checkpoint carries its mark. */
  async setCheckpoint(mark: FoldMark): Promise<void> {
    await writeCustomerOrdersCheckpoint(this.redis, this.keys, this.gen, { ...mark, storeId: this.storeId() });
  }
}

/**
 * Rebuilds `customer_orders` into a new key generation and flips `:current` to it. The swap sets `:swap-lock` (live
 * writes pause, readers go on), catches the shadow up to the live checkpoint, and flips the pointer and releases the
 * lock in one script. The live projector then finds its generation moved and continues from the new one.
 */
export class CustomerOrdersRebuild implements RebuildTarget {
  readonly name = CUSTOMER_ORDERS;
  private readonly redis: ReturnType<typeof withScripts>;
  private readonly keys: ReturnType<typeof customerOrdersKeys>;
  private shadowGen: string | undefined;
  private oldGen: string | undefined;
  private readonly cache = new SummaryCache(200_000);
  private fold: BulkFold | undefined;

  constructor(
    redis: Redis,
    namespace: string,
    private readonly eventLog: EventLog,
    private readonly options: RebuildTargetOptions = {},
  ) {
    this.redis = withScripts(redis);
    this.keys = customerOrdersKeys(namespace);
  }

  async dropShadow(): Promise<void> {
    if (this.shadowGen !== undefined) await dropGenerationKeys(this.redis, this.keys.generation(this.shadowGen));
  }

  async createShadow(): Promise<void> {
    const current = await this.redis.get(this.keys.current);
    let gen = String(Date.now());
    if (gen === current) gen = String(Date.now() + 1);
    this.shadowGen = gen;
    this.cache.clear();
    await initGeneration(this.redis.multi(), this.keys.generation(gen)).exec();
    this.fold = new BulkFold(
      foldSourceOf(this.eventLog),
      new GenerationWriter(this.redis, this.keys, gen, this.options.storeId ?? (() => undefined)),
      this.options,
    );
  }

  replay(from: Position, to: Position, onProgress: (done: Position, total: Position) => void): Promise<Position> {
    if (!this.fold) throw new Error("customer_orders: replay before createShadow");
    return this.fold.replay(from, to, (p) => onProgress(p.done, p.total));
  }

  async applyToShadow(events: readonly RecordedEvent[], after: Position): Promise<void> {
    const [outcome, value] = await applyToGeneration(
      this.redis,
      this.keys,
      this.shadowGen as string,
      events,
      after,
      "shadow",
      this.cache,
      this.options.storeId?.() ?? "",
      undefined,
      this.options.unknownTypes,
    );
    if (outcome !== "ok") throw new Error(`shadow generation g${this.shadowGen}: ${outcome} ${value}`);
  }

  /** Reads the whole shadow back: each order hash once, and each order exactly once in its customer's list. */
  async verify(position: Position): Promise<Verification> {
    const g = this.keys.generation(this.shadowGen as string);
    // The fold reads Postgres while Redis answers the read-back.
    const [{ summaries, listed }, folded] = await Promise.all([
      readGenerationContents(this.redis, g),
      foldEventLog(this.eventLog, position, undefined, this.options.unknownTypes?.mode),
    ]);
    const expected = checksumSummaries(folded.values());
    const actual = checksumSummaries(summaries.values());
    let consistent = listed.size === summaries.size;
    for (const [orderId, entry] of listed) {
      const s = summaries.get(orderId);
      if (!s || entry.count !== 1 || entry.customerId !== s.customerId || entry.member !== listMember(s)) {
        consistent = false;
      }
    }
    return {
      rows: actual.rows,
      checksum: consistent ? actual.checksum : `inconsistent-lists:${actual.checksum}`,
      expectedRows: expected.rows,
      expectedChecksum: expected.checksum,
    };
  }

  async swap(shadowCheckpoint: Position, catchUp: (from: Position, to: Position) => Promise<void>): Promise<Position> {
    const shadow = this.shadowGen as string;
    for (;;) {
      const ok = await this.redis.set(this.keys.swapLock, shadow, "PX", 30_000, "NX");
      if (ok === "OK") break;
      await sleep(50);
    }
    try {
      const current = await this.redis.get(this.keys.current);
      let position = shadowCheckpoint;
      let partitions = this.options.partitions ?? 1;
      if (current !== null) {
        partitions =
          this.options.partitions ?? Number((await this.redis.get(`${this.keys.generation(current)}:partitions`)) ?? 1);
        // Partitioned: the furthest partition's; the shadow then holds every event up to it, for every partition.
        const live = await highestCheckpoint(this.redis, this.keys.generation(current));
        if (live > shadowCheckpoint) {
          await catchUp(shadowCheckpoint, live);
          position = live;
        }
      }
      await this.layOut(shadow, position, partitions);
      const flipped = await this.redis.orderlyFlip(this.keys.prefix, current ?? "", shadow, String(position));
      if (flipped !== 1) throw new Error("customer_orders: the generation pointer changed during the swap");
      this.oldGen = current ?? undefined;
      this.shadowGen = undefined;
      return position;
    } finally {
      await this.redis.del(this.keys.swapLock);
    }
  }

  /** The shadow's partitions, every one at `position` with the shadow's own mark (partition 0's). */
  private async layOut(shadow: string, position: Position, partitions: number): Promise<void> {
    if (partitions === 1) return;
    const g = this.keys.generation(shadow);
    const [eventId, storeId] = await this.redis.hmget(`${g}:mark`, "e", "s");
    await layOutGeneration(this.redis.multi(), g, partitions, String(position), {
      eventId: eventId ?? undefined,
      storeId: storeId ?? undefined,
    }).exec();
  }

  async dropOld(): Promise<void> {
    // Readers and writers go through :current in atomic scripts, so nothing can still be reading the old generation.
    if (this.oldGen !== undefined) await dropGenerationKeys(this.redis, this.keys.generation(this.oldGen));
    this.oldGen = undefined;
  }
}
