import type { Redis } from "ioredis";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { PartitionLayoutError } from "./partitions.js";
import { CUSTOMER_ORDERS } from "./versions.js";

/**
 * Makes sure the live generation of `customer_orders` is laid out for `count` partitions (ADR 0019): a generation of
 * another count that has applied nothing (every partition at 0) is laid out anew; one that has is refused
 * (PartitionLayoutError: rebuild). No generation yet: the first writer creates it with `count`.
 */
export async function ensureRedisLayout(redis: Redis, namespace: string, count: number): Promise<void> {
  const keys = customerOrdersKeys(namespace);
  const gen = await redis.get(keys.current);
  if (gen === null) return;
  const g = keys.generation(gen);
  const stored = Number((await redis.get(`${g}:partitions`)) ?? 1);
  if (stored === count) return;
  const names = [`${g}:checkpoint`];
  for (let i = 1; i < stored; i++) names.push(`${g}:checkpoint:p${i}`);
  const positions = await redis.mget(...names);
  if (positions.some((p) => Number(p ?? 0) > 0)) throw new PartitionLayoutError(CUSTOMER_ORDERS, stored, count);
  const tx = redis.multi().set(`${g}:partitions`, String(count));
  for (let i = 1; i < Math.max(stored, count); i++) {
    if (i < count) tx.set(`${g}:checkpoint:p${i}`, "0").hset(`${g}:mark:p${i}`, "p", "0", "e", "", "s", "");
    else tx.unlink(`${g}:checkpoint:p${i}`, `${g}:mark:p${i}`);
  }
  await tx.exec();
}

/** The highest checkpoint over the partitions of generation `g` (a rebuild catches its shadow up to it). */
export async function highestCheckpoint(redis: Redis, g: string): Promise<number> {
  const stored = Number((await redis.get(`${g}:partitions`)) ?? 1);
  const names = [`${g}:checkpoint`];
  for (let i = 1; i < stored; i++) names.push(`${g}:checkpoint:p${i}`);
  return Math.max(0, ...(await redis.mget(...names)).map((p) => Number(p ?? 0)));
}
