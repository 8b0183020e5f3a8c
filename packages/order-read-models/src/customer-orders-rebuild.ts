import type { Position, RecordedEvent } from "@orderly/eventsourcing";
import { type EventLog, type RebuildTarget, sleep, type Verification } from "@orderly/projector";
import type { Redis } from "ioredis";
import {
  applyToGeneration,
  customerOrdersKeys,
  deleteByPattern,
  hashToSummary,
  listMember,
  withScripts,
} from "./customer-orders.js";
import type { OrderSummaryView } from "./order-summary.js";
import { SummaryCache } from "./summary-cache.js";
import { checksumSummaries, foldEventLog } from "./verification.js";
import { CUSTOMER_ORDERS } from "./versions.js";

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

  constructor(
    redis: Redis,
    namespace: string,
    private readonly eventLog: EventLog,
  ) {
    this.redis = withScripts(redis);
    this.keys = customerOrdersKeys(namespace);
  }

  async dropShadow(): Promise<void> {
    if (this.shadowGen !== undefined) await deleteByPattern(this.redis, `${this.keys.generation(this.shadowGen)}:*`);
  }

  async createShadow(): Promise<void> {
    const current = await this.redis.get(this.keys.current);
    let gen = String(Date.now());
    if (gen === current) gen = String(Date.now() + 1);
    this.shadowGen = gen;
    this.cache.clear();
    await this.redis.set(`${this.keys.generation(gen)}:checkpoint`, "0");
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
    );
    if (outcome !== "ok") throw new Error(`shadow generation g${this.shadowGen}: ${outcome} ${value}`);
  }

  /** Reads the whole shadow back: each order hash once, and each order exactly once in its customer's list. */
  async verify(position: Position): Promise<Verification> {
    const g = this.keys.generation(this.shadowGen as string);
    const summaries = await readGeneration(this.redis, g);
    const expected = checksumSummaries((await foldEventLog(this.eventLog, position)).values());
    const actual = checksumSummaries(summaries.values());
    const listed = await readLists(this.redis, g);
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
      if (current !== null) {
        const live = Number((await this.redis.get(`${this.keys.generation(current)}:checkpoint`)) ?? 0);
        if (live > shadowCheckpoint) {
          await catchUp(shadowCheckpoint, live);
          position = live;
        }
      }
      const flipped = await this.redis.orderlyFlip(this.keys.prefix, current ?? "", shadow, String(position));
      if (flipped !== 1) throw new Error("customer_orders: the generation pointer changed during the swap");
      this.oldGen = current ?? undefined;
      this.shadowGen = undefined;
      return position;
    } finally {
      await this.redis.del(this.keys.swapLock);
    }
  }

  async dropOld(): Promise<void> {
    // Readers and writers go through :current in atomic scripts, so nothing can still be reading the old generation.
    if (this.oldGen !== undefined) await deleteByPattern(this.redis, `${this.keys.generation(this.oldGen)}:*`);
    this.oldGen = undefined;
  }
}

/** Every order hash of a generation (`<prefix>:g<N>`). */
export async function readGeneration(redis: Redis, g: string): Promise<Map<string, OrderSummaryView>> {
  const summaries = new Map<string, OrderSummaryView>();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${g}:o:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    const results = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const orderId = key.slice(`${g}:o:`.length);
      const summary = hashToSummary(orderId, (results[i]?.[1] ?? {}) as Record<string, string>);
      if (summary) summaries.set(orderId, summary);
    });
  } while (cursor !== "0");
  return summaries;
}

/** For each order listed in any customer's sorted set: how often, under which customer, with which member. */
export async function readLists(
  redis: Redis,
  g: string,
): Promise<Map<string, { count: number; customerId: string; member: string }>> {
  const listed = new Map<string, { count: number; customerId: string; member: string }>();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${g}:c:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.zrange(key, "0", "-1");
    const results = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const customerId = key.slice(`${g}:c:`.length);
      for (const member of (results[i]?.[1] ?? []) as string[]) {
        const orderId = member.slice(31);
        const seen = listed.get(orderId);
        if (seen) seen.count++;
        else listed.set(orderId, { count: 1, customerId, member });
      }
    });
  } while (cursor !== "0");
  return listed;
}
