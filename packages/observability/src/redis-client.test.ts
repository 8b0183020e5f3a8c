import { Cluster, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import {
  clusterOptions,
  clusterSeeds,
  createRedisClient,
  isRedisCluster,
  redisMasters,
  withRedisCause,
} from "./redis-client.js";

// What the factory hands ioredis; the clients are made lazily and never connect here. Against real servers:
// order-read-models' customer-orders-cluster.int.test.ts and test/src/faults/redis-cluster.e2e.test.ts.

describe("createRedisClient", () => {
  it("makes a single-server client for one URL, with the TLS material", () => {
    const client = createRedisClient("rediss://u:p%40ss@r:6380", { tls: { ca: "CA" } }, { lazyConnect: true });
    try {
      expect(client).toBeInstanceOf(Redis);
      expect(isRedisCluster(client)).toBe(false);
      expect(redisMasters(client)).toEqual([client]);
      expect(client.options).toMatchObject({
        host: "r",
        port: 6380,
        username: "u",
        password: "p@ss",
        tls: { ca: "CA" },
      });
    } finally {
      client.disconnect();
    }
  });

  it("makes a Cluster from the seeds, every node reached with the seeds' user, password and TLS", () => {
    const url = "rediss://orderly:s%3Acret@[::1]:7000,rediss://orderly:s%3Acret@r2";
    expect(clusterSeeds(url)).toEqual([
      { host: "::1", port: 7000 },
      { host: "r2", port: 6379 },
    ]);
    const options = clusterOptions(
      url,
      { tls: { ca: "CA" }, cluster: true },
      {
        lazyConnect: true,
        connectionName: "query-service",
        commandTimeout: 500,
        maxRetriesPerRequest: 1,
        enableAutoPipelining: true,
        enableOfflineQueue: false,
        retryStrategy: () => null,
      },
    );
    expect(options.redisOptions).toEqual({
      connectionName: "query-service",
      commandTimeout: 500,
      maxRetriesPerRequest: 1,
      username: "orderly",
      password: "s:cret",
      tls: { ca: "CA" },
    });
    expect(options).toMatchObject({ lazyConnect: true, enableAutoPipelining: true, enableOfflineQueue: false });
    expect(options.clusterRetryStrategy?.(1)).toBeNull();
    // TLS: the seeds are connected to by name (the certificate's), not by their resolved address.
    let resolved: string | undefined;
    options.dnsLookup?.("r2", (_error, address) => {
      resolved = address;
    });
    expect(resolved).toBe("r2");
    expect(clusterOptions("redis://a:1", { cluster: true }, {}).dnsLookup).toBeUndefined();
    // Plain redis:// without credentials: no TLS, no AUTH.
    expect(clusterOptions("redis://a:1,redis://b:2", { cluster: true }, {}).redisOptions).toEqual({});
    // rediss:// without REDIS_TLS_*: TLS with the system's CAs.
    expect(clusterOptions("rediss://a:1", { cluster: true }, {}).redisOptions).toEqual({ tls: {} });

    const client = createRedisClient(
      "redis://127.0.0.1:1,redis://127.0.0.1:2",
      { cluster: true },
      { lazyConnect: true },
    );
    try {
      expect(client).toBeInstanceOf(Cluster);
      expect(isRedisCluster(client)).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it("names why a cluster client reached no node (ioredis keeps it in lastNodeError)", () => {
    const failed = Object.assign(new Error("Failed to refresh slots cache."), {
      lastNodeError: new Error("WRONGPASS invalid username-password pair"),
    });
    expect((withRedisCause(failed) as Error).message).toBe(
      "Failed to refresh slots cache: WRONGPASS invalid username-password pair",
    );
    const plain = new Error("ECONNREFUSED");
    expect(withRedisCause(plain)).toBe(plain);
  });
});
