import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { RedisLinkOptions } from "./links.js";

/**
 * The one place where Orderly's processes make a Redis client from REDIS_URL (docs/scaling.md "Redis Cluster"):
 * ioredis' `Redis` for one server, its `Cluster` for a Redis Cluster (REDIS_URL listing seed nodes comma-separated,
 * or REDIS_CLUSTER=1 with one seed).
 *
 * A `Cluster` is handed out typed as `Redis`, the port every user of Redis in this code base takes: it sends the same
 * commands, Lua scripts (`defineCommand`, routed by their first key), pipelines, MULTI/EXEC and WATCH — as long as the
 * keys of one call hash to one slot, which Orderly's keys guarantee (every key of a namespace's `customer_orders`
 * starts with the hash tag `{<namespace>}`, customer-orders-keys.ts). What differs, and who minds it:
 * - a command without a key runs on one master only: a caller that must reach every node of its own cluster (the
 *   cluster tests' checks) visits `redisMasters(client)`;
 * - `client instanceof Redis` is false for a cluster: use `isRedisCluster`;
 * - SUBSCRIBE works (a cluster delivers PUBLISH to every node's subscribers) and is re-issued after a failover.
 * customer-orders-cluster.int.test.ts and test/src/faults/redis-cluster.e2e.test.ts run the read model and the
 * services through this factory against a local 3-master cluster, so a change of ioredis' Cluster shows there.
 */
export interface RedisClientOptions {
  /** CLIENT SETNAME of every connection (each node's, on a cluster). */
  readonly connectionName?: string;
  /** Connect on `connect()` (or the first command) instead of at once. */
  readonly lazyConnect?: boolean;
  readonly connectTimeout?: number;
  readonly commandTimeout?: number;
  /** Per connection: how often a command is retried over reconnects before it fails (null: never fails for that). */
  readonly maxRetriesPerRequest?: number | null;
  readonly enableAutoPipelining?: boolean;
  readonly enableOfflineQueue?: boolean;
  /** Delay before the `times`-th reconnect (of the cluster as a whole, on a cluster); null gives up. */
  readonly retryStrategy?: (times: number) => number | null;
}

export function createRedisClient(url: string, link: RedisLinkOptions = {}, options: RedisClientOptions = {}): Redis {
  const tls = link.tls === undefined ? {} : { tls: link.tls };
  if (link.cluster !== true) return new Redis(url, { ...tls, ...options } satisfies RedisOptions);
  return new Cluster(clusterSeeds(url), clusterOptions(url, link, options)) as unknown as Redis;
}

/** The host and port of each of REDIS_URL's seeds (a cluster's nodes: the client learns the others from them). */
export function clusterSeeds(url: string): { host: string; port: number }[] {
  return entries(url).map((seed) => {
    const parsed = new URL(seed);
    return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port || 6379) };
  });
}

/**
 * The Cluster's options: what each node's connection needs (the seeds' user and password, TLS for rediss:// with the
 * REDIS_TLS_* material, timeouts, the connection name) goes into `redisOptions`, since the nodes the client discovers
 * are not in REDIS_URL; the rest is the cluster's own.
 */
export function clusterOptions(url: string, link: RedisLinkOptions, options: RedisClientOptions): ClusterOptions {
  const { retryStrategy, enableOfflineQueue, lazyConnect, enableAutoPipelining, ...perConnection } = options;
  const first = new URL(entries(url)[0] ?? "redis://127.0.0.1:6379");
  const redisOptions: NonNullable<ClusterOptions["redisOptions"]> = {
    ...perConnection,
    ...(first.username === "" ? {} : { username: decodeURIComponent(first.username) }),
    ...(first.password === "" ? {} : { password: decodeURIComponent(first.password) }),
    ...(first.protocol === "rediss:" ? { tls: link.tls ?? {} } : {}),
  };
  return {
    redisOptions,
    // Over TLS, connect to the seeds by the names in REDIS_URL, not by the addresses they resolve to: the certificate
    // names the host, and the TLS server name is the host connected to (ioredis' advice for TLS clusters).
    ...(first.protocol === "rediss:" ? { dnsLookup: (address: string, done) => done(null, address) } : {}),
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(retryStrategy === undefined ? {} : { clusterRetryStrategy: retryStrategy }),
  };
}

export function isRedisCluster(client: Redis): boolean {
  return (client as unknown) instanceof Cluster;
}

/**
 * Where a keyspace-wide command (SCAN) must go to see every key: the client itself on one server, each master's
 * connection on a cluster (known once the client is ready).
 */
export function redisMasters(client: Redis): Redis[] {
  const c = client as unknown;
  return c instanceof Cluster ? c.nodes("master") : [client];
}

/**
 * A Redis client's error with its cause: a cluster client that reached no node says only "Failed to refresh slots
 * cache." and keeps why (WRONGPASS, a certificate problem, ECONNREFUSED) in `lastNodeError`.
 */
export function withRedisCause(error: unknown): unknown {
  const last = (error as { lastNodeError?: unknown } | undefined)?.lastNodeError;
  if (!(error instanceof Error) || last === undefined) return error;
  const cause = withRedisCause(last);
  return new Error(`${error.message.replace(/\.$/, "")}: ${cause instanceof Error ? cause.message : String(cause)}`, {
    cause: error,
  });
}

function entries(url: string): string[] {
  return url
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
