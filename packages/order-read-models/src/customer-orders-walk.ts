import type { Redis } from "ioredis";
import { hashToSummary } from "./customer-orders-hash.js";
import { generationKeys } from "./customer-orders-keys.js";
import type { OrderSummaryView } from "./order-summary.js";

/**
 * Reading and dropping a whole `customer_orders` generation through its own index (`:customers`), never by SCAN: a
 * shared Redis holds hundreds of thousands of other tenants' keys, and SCAN walks every one of them whatever the
 * MATCH. The walk reaches what a reader can reach: every indexed customer's list, every listed order's hash. A key the
 * index does not lead to (an order hash whose list entry vanished, a list whose index entry vanished) is not seen: a
 * comparison with a fold reports that order missing, which it is for readers, and the partial-loss checks report the
 * damaged index (customer-orders-integrity.ts); the projector sweeps such keys of a damaged generation by the names of
 * the generation that replaced it (`unlinkKeysNamedLike`).
 */

/** One order's place in the lists: how often listed, under which customer, with which member. */
export interface ListedEntry {
  count: number;
  customerId: string;
  member: string;
}

export interface GenerationContents {
  readonly summaries: Map<string, OrderSummaryView>;
  readonly listed: Map<string, ListedEntry>;
  /** Customers the index led to. */
  readonly customers: number;
}

const PAGE = 1000;

/**
 * Calls `visit` with each page of the index's customer ids (SSCAN, `COUNT` 1000), up to `inFlight` pages read at once
 * while the cursor moves on. SSCAN may return a member twice (when the set is resized meanwhile): pages are de-duplicated.
 */
async function forEachCustomerPage(
  redis: Redis,
  g: string,
  visit: (customerIds: string[]) => Promise<void>,
  inFlight = 4,
): Promise<number> {
  const k = generationKeys(g);
  const seen = new Set<string>();
  const running = new Set<Promise<void>>();
  let failure: unknown;
  let cursor = "0";
  do {
    const [next, page] = await redis.sscan(k.customers, cursor, "COUNT", PAGE);
    cursor = next;
    const fresh = page.filter((c) => !seen.has(c));
    for (const c of fresh) seen.add(c);
    if (fresh.length === 0) continue;
    const work: Promise<void> = visit(fresh).then(
      () => {
        running.delete(work);
      },
      (error: unknown) => {
        failure ??= error;
        running.delete(work);
      },
    );
    running.add(work);
    if (running.size >= inFlight) await Promise.race(running);
    if (failure !== undefined) break;
  } while (cursor !== "0");
  await Promise.all(running);
  if (failure !== undefined) throw failure;
  return seen.size;
}

/** Each customer's list members, in one pipeline. */
async function readMembers(redis: Redis, g: string, customerIds: readonly string[]): Promise<string[][]> {
  const k = generationKeys(g);
  const pipeline = redis.pipeline();
  for (const c of customerIds) pipeline.zrange(k.customer(c), "0", "-1");
  const results = (await pipeline.exec()) ?? [];
  return customerIds.map((_, i) => {
    const [error, members] = results[i] ?? [];
    if (error) throw error;
    return (members ?? []) as string[];
  });
}

/** Every list and every listed order's hash of generation `g` (`<prefix>:g<N>`), through its index. */
export async function readGenerationContents(redis: Redis, g: string): Promise<GenerationContents> {
  const k = generationKeys(g);
  const summaries = new Map<string, OrderSummaryView>();
  const listed = new Map<string, ListedEntry>();
  const customers = await forEachCustomerPage(redis, g, async (customerIds) => {
    const members = await readMembers(redis, g, customerIds);
    const orderIds: string[] = [];
    customerIds.forEach((customerId, i) => {
      for (const member of members[i] as string[]) {
        const orderId = member.slice(31);
        const seen = listed.get(orderId);
        if (seen) seen.count++;
        else {
          listed.set(orderId, { count: 1, customerId, member });
          orderIds.push(orderId);
        }
      }
    });
    for (let i = 0; i < orderIds.length; i += PAGE) {
      const chunk = orderIds.slice(i, i + PAGE);
      const pipeline = redis.pipeline();
      for (const id of chunk) pipeline.hgetall(k.order(id));
      const results = (await pipeline.exec()) ?? [];
      chunk.forEach((orderId, j) => {
        const [error, h] = results[j] ?? [];
        if (error) throw error;
        const summary = hashToSummary(orderId, (h ?? {}) as Record<string, string>);
        if (summary) summaries.set(orderId, summary);
      });
    }
  });
  return { summaries, listed, customers };
}

/**
 * Deletes generation `g`: every list and listed order hash the index leads to (UNLINK, a page of customers at a
 * time), then the index, the counts, the checkpoint and the mark. Returns the keys removed.
 */
export async function dropGenerationKeys(redis: Redis, g: string): Promise<number> {
  const k = generationKeys(g);
  let removed = await unlinkKeysNamedLike(redis, g, g);
  // A partitioned generation's other partitions' checkpoints and marks (ADR 0019).
  const partitions = Number((await redis.get(`${g}:partitions`)) ?? 1);
  const more: string[] = [`${g}:partitions`];
  for (let i = 1; i < partitions; i++) more.push(`${g}:checkpoint:p${i}`, `${g}:mark:p${i}`);
  removed += await redis.unlink(k.customers, k.listed, k.counts, k.checkpoint, k.mark, ...more);
  return removed;
}

/**
 * UNLINKs, in generation `target`, the order hashes and customer lists named after those of generation `source` (walked
 * through `source`'s index): after a partial loss, the replayed generation names every order of the store, so this
 * finds the hashes of the damaged one that its own index no longer leads to. Returns the keys removed.
 */
export async function unlinkKeysNamedLike(redis: Redis, source: string, target: string): Promise<number> {
  const t = generationKeys(target);
  let removed = 0;
  await forEachCustomerPage(
    redis,
    source,
    async (customerIds) => {
      const members = await readMembers(redis, source, customerIds);
      const names = customerIds.map((c) => t.customer(c));
      for (const list of members) for (const member of list) names.push(t.order(member.slice(31)));
      for (let i = 0; i < names.length; i += PAGE) removed += await redis.unlink(...names.slice(i, i + PAGE));
    },
    1,
  );
  return removed;
}
