import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createRedisClient } from "@orderly/observability";
import type { Redis } from "ioredis";
import pg from "pg";

export interface TestEnvironment {
  /** The ORDERLY_NAMESPACE of this run, e.g. `t_1a2b3c4d`: JetStream names and Redis keys start with it. */
  readonly namespace: string;
  /** A fresh, empty database on the shared server. */
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly redisUrl: string;
  /** Environment variables for a child process of this run. */
  readonly env: Record<string, string>;
  /** Redis keys of the run's own (by name) for `cleanup` to delete, besides what `dropRedis` finds. */
  ownRedisKeys(...keys: string[]): void;
  /** Another namespace of the run's own (derived from `namespace`, e.g. `<namespace>:n3`) for `dropRedis` too; returns it. */
  ownRedisNamespace(namespace: string): string;
  /**
   * Drops the database, deletes the namespace's JetStream streams, and its Redis keys by name: those `dropRedis`
   * finds in the run's namespaces and those given to `ownRedisKeys` (never a SCAN: the shared Redis holds other
   * tenants' keys).
   */
  cleanup(): Promise<void>;
}

const defaults = {
  adminDatabaseUrl: process.env.ORDERLY_TEST_ADMIN_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres",
  natsUrl: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
};

/** Where a test environment lives: the shared servers by default, or servers the test started itself. */
export interface TestServers {
  /** A URL with the right to create and drop databases. */
  readonly adminDatabaseUrl?: string;
  readonly natsUrl?: string;
  readonly redisUrl?: string;
}

/**
 * Deletes by name what something keeps in Redis under `namespace` (e.g. `dropCustomerOrders` of
 * `@orderly/order-read-models/testing`, which walks the read model's own index). Returns the keys removed.
 */
export type RedisNamespaceDrop = (redis: Redis, namespace: string) => Promise<number>;

export interface TestEnvironmentOptions extends TestServers {
  /** What the run keeps in Redis under its namespaces, for `cleanup` to delete (default: nothing but `ownRedisKeys`). */
  readonly dropRedis?: readonly RedisNamespaceDrop[];
}

export async function createTestEnvironment(options: TestEnvironmentOptions = {}): Promise<TestEnvironment> {
  const { dropRedis = [], ...servers } = options;
  const where = { ...defaults, ...servers };
  const suffix = randomBytes(5).toString("hex");
  const namespace = `t_${suffix}`;
  const database = `orderly_test_${suffix}`;
  const adminUrl = new URL(where.adminDatabaseUrl);
  await withAdmin(adminUrl, (client) => client.query(`create database ${database}`));
  const databaseUrl = new URL(adminUrl);
  databaseUrl.pathname = `/${database}`;
  const env = {
    DATABASE_URL: databaseUrl.toString(),
    NATS_URL: where.natsUrl,
    REDIS_URL: where.redisUrl,
    ORDERLY_NAMESPACE: namespace,
  };
  let cleaned = false;
  const ownKeys = new Set<string>();
  const namespaces = new Set([namespace]);
  return {
    namespace,
    databaseUrl: env.DATABASE_URL,
    natsUrl: env.NATS_URL,
    redisUrl: env.REDIS_URL,
    env,
    ownRedisKeys(...keys) {
      for (const key of keys) ownKeys.add(key);
    },
    ownRedisNamespace(derived) {
      namespaces.add(derived);
      return derived;
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      const results = await Promise.allSettled([
        withAdmin(adminUrl, (client) => client.query(`drop database if exists ${database} with (force)`)),
        deleteJetStreamNamespace(where.natsUrl, namespace),
        deleteRedisKeys(where.redisUrl, [...namespaces], dropRedis, [...ownKeys]),
      ]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed.length > 0)
        throw new AggregateError(
          failed.map((f) => f.reason),
          "test environment cleanup failed",
        );
    },
  };
}

async function withAdmin<T>(url: URL, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function deleteJetStreamNamespace(natsUrl: string, namespace: string): Promise<void> {
  // NATS_URL may list a cluster's servers, comma-separated.
  const nc = await connect({ servers: natsUrl.split(","), timeout: 2_000 });
  try {
    const jsm = await jetstreamManager(nc);
    const prefix = namespace.toUpperCase();
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(prefix) || name.startsWith(namespace)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}

async function deleteRedisKeys(
  redisUrl: string,
  namespaces: readonly string[],
  drops: readonly RedisNamespaceDrop[],
  keys: readonly string[],
): Promise<void> {
  if (drops.length === 0 && keys.length === 0) return;
  // REDIS_URL listing several nodes is a Redis Cluster of the test's own.
  const cluster = redisUrl.includes(",");
  const redis = createRedisClient(redisUrl, cluster ? { cluster } : {}, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    for (const namespace of namespaces) for (const drop of drops) await drop(redis, namespace);
    // One key at a time: on a cluster, the run's own keys need not share a slot.
    await Promise.all(keys.map((key) => redis.unlink(key)));
  } finally {
    redis.disconnect();
  }
}

/** Runs `test` in a test environment of its own, cleaned up after it whatever the outcome (a file with one test). */
export async function withTestEnvironment<T>(
  test: (env: TestEnvironment) => Promise<T>,
  options?: TestEnvironmentOptions,
): Promise<T> {
  const env = await createTestEnvironment(options);
  try {
    return await test(env);
  } finally {
    await env.cleanup();
  }
}
