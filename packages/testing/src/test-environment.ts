import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createRedisClient, redisMasters } from "@orderly/observability";
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
  /** Drops the database, deletes the namespace's JetStream streams and Redis keys. */
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

export async function createTestEnvironment(servers: TestServers = {}): Promise<TestEnvironment> {
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
  return {
    namespace,
    databaseUrl: env.DATABASE_URL,
    natsUrl: env.NATS_URL,
    redisUrl: env.REDIS_URL,
    env,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      const results = await Promise.allSettled([
        withAdmin(adminUrl, (client) => client.query(`drop database if exists ${database} with (force)`)),
        deleteJetStreamNamespace(where.natsUrl, namespace),
        deleteRedisNamespace(where.redisUrl, namespace),
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

async function deleteRedisNamespace(redisUrl: string, namespace: string): Promise<void> {
  // REDIS_URL listing several nodes is a Redis Cluster of the test's own: SCAN each master, UNLINK key by key (the
  // keys of one master are in many slots).
  const cluster = redisUrl.includes(",");
  const redis = createRedisClient(redisUrl, cluster ? { cluster } : {}, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    // Plain `<ns>:` keys, `{<ns>}:` ones (hash-tagged for Redis Cluster: customer_orders), and the hash-tagged keys
    // of namespaces a test derives from its own (`{<ns>:n3}:`), which neither of the first two patterns matches.
    for (const node of redisMasters(redis)) {
      for (const pattern of [`${namespace}:*`, `{${namespace}}:*`, `{${namespace}:*`]) {
        let cursor = "0";
        do {
          const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
          cursor = next;
          if (keys.length === 0) continue;
          if (cluster) await Promise.all(keys.map((key) => redis.unlink(key)));
          else await redis.unlink(...keys);
        } while (cursor !== "0");
      }
    }
  } finally {
    redis.disconnect();
  }
}
