import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createTestEnvironment } from "./test-environment.js";

describe("createTestEnvironment", () => {
  it("gives a run its own database, JetStream names and Redis prefix, and removes them", async () => {
    const env = await createTestEnvironment();
    const client = new pg.Client({ connectionString: env.databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ db: string }>("select current_database() as db");
    expect(rows[0]?.db).toMatch(/^orderly_test_[0-9a-f]{10}$/);
    await client.end();

    const nc = await connect({ servers: env.natsUrl });
    const jsm = await jetstreamManager(nc);
    const stream = `${env.namespace.toUpperCase()}_PROBE`;
    await jsm.streams.add({ name: stream, subjects: [`${env.namespace}.probe.>`] });
    const redis = new Redis(env.redisUrl);
    await redis.set(`${env.namespace}:probe`, "1");
    env.ownRedisKeys(`${env.namespace}:probe`);

    await env.cleanup();

    await expect(jsm.streams.info(stream)).rejects.toThrow(/stream not found/);
    expect(await redis.exists(`${env.namespace}:probe`)).toBe(0);
    const admin = new pg.Client({ connectionString: "postgres://root@127.0.0.1:5432/postgres" });
    await admin.connect();
    const dbs = await admin.query("select 1 from pg_database where datname = $1", [env.databaseUrl.split("/").pop()]);
    expect(dbs.rowCount).toBe(0);
    await admin.end();
    redis.disconnect();
    await nc.close();
  });

  it("deletes Redis keys by name only: what its drops find and the keys it was given, nothing else", async () => {
    const calls: string[] = [];
    const env = await createTestEnvironment({
      dropRedis: [
        async (redis, namespace) => {
          calls.push(namespace);
          return redis.unlink(`{${namespace}}:found`);
        },
      ],
    });
    const redis = new Redis(env.redisUrl);
    try {
      await redis.set(`{${env.namespace}}:found`, "1");
      await redis.set(`${env.namespace}:given`, "1");
      await redis.set(`${env.namespace}:unnamed`, "1");
      env.ownRedisKeys(`${env.namespace}:given`);
      const derived = env.ownRedisNamespace(`${env.namespace}:n1`);
      await redis.set(`{${derived}}:found`, "1");

      await env.cleanup();

      expect(calls).toEqual([env.namespace, derived]);
      expect(await redis.exists(`{${env.namespace}}:found`, `${env.namespace}:given`, `{${derived}}:found`)).toBe(0);
      // No pattern, no SCAN: a key nobody named stays (and is the test's own to delete).
      expect(await redis.exists(`${env.namespace}:unnamed`)).toBe(1);
    } finally {
      await redis.del(`${env.namespace}:unnamed`);
      redis.disconnect();
    }
  });
});
