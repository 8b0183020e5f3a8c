import type { Redis } from "ioredis";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { dropGenerationKeys } from "./customer-orders-walk.js";

/**
 * Deletes what `customer_orders` keeps in Redis for `namespace`, by name: the live generation through its own index
 * (customer-orders-walk.ts), then the generation pointer and the swap lock. A test's or a benchmark's cleanup on a
 * shared Redis, which must never SCAN a keyspace other tenants share. What no name leads to is left: a generation
 * other than the live one (a rebuild's shadow whose process died before dropping it) and, in a damaged generation,
 * the keys its index lost. Returns the keys removed.
 */
export async function dropCustomerOrders(redis: Redis, namespace: string): Promise<number> {
  const keys = customerOrdersKeys(namespace);
  const gen = await redis.get(keys.current);
  const removed = gen === null ? 0 : await dropGenerationKeys(redis, keys.generation(gen));
  return removed + (await redis.unlink(keys.current, keys.swapLock));
}
