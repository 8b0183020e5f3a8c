// What the read-model benchmarks share (not a benchmark itself: bench/run.mjs runs the projection and rebuild ones).
import { createPool, migrateEventStore } from "@orderly/event-store-postgres";
import { CustomerOrdersProjection, customerOrdersKeys, migrateReadModels } from "@orderly/order-read-models";
import { dropCustomerOrders, generateOrderHistories, recordHistories } from "@orderly/order-read-models/testing";
import { createTestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";

/** Progress lines on stderr, `[<bench>] …` (stdout carries only the JSON result). */
export function benchLog(bench) {
  return (msg) => process.stderr.write(`[${bench}] ${msg}\n`);
}

/**
 * A test environment of the benchmark's own (`createTestEnvironment`, whose cleanup drops the namespace's
 * `customer_orders`) and a Redis client on it. `close()` disconnects and drops the environment.
 */
export async function openBenchRedis() {
  const env = await createTestEnvironment({ dropRedis: [dropCustomerOrders] });
  const redis = new Redis(env.redisUrl);
  const close = async () => {
    redis.disconnect();
    await env.cleanup();
  };
  return { env, redis, close };
}

/**
 * `openBenchRedis`, and the event store's and the read models' tables in its database with a pool of `poolMax`
 * connections. `close()` ends the pool too.
 */
export async function openBenchStores(poolMax) {
  const { env, redis } = await openBenchRedis();
  const pool = createPool(env.databaseUrl, { max: poolMax });
  const close = async () => {
    redis.disconnect();
    await pool.end();
    await env.cleanup();
  };
  try {
    await migrateEventStore(pool);
    await migrateReadModels(pool);
  } catch (error) {
    await close();
    throw error;
  }
  return { env, pool, redis, close };
}

/**
 * A `customer_orders` generation of `namespace` filled through the live apply path (CustomerOrdersProjection.apply,
 * batches of 2,000) with about `events` events (~4 per order, ~5 orders per customer; built in memory, no event store
 * needed). The projection's own checks are off; `options` adds to its options. Returns the projection, the events and
 * the generation's key prefix `g`.
 */
export async function fillGeneration(redis, namespace, events, log, options = {}) {
  const projection = new CustomerOrdersProjection(redis, {
    namespace,
    checkIntervalMs: 3_600_000,
    auditPassMs: 0,
    ...options,
  });
  await projection.checkpoint();
  const fill = recordHistories(generateOrderHistories(events, 42), 0);
  log(`filling a generation with ${fill.length} events`);
  for (let i = 0; i < fill.length; i += 2000) await projection.apply(fill.slice(i, i + 2000), i);
  return { projection, events: fill, g: customerOrdersKeys(namespace).generation(projection.generation) };
}
