import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, startPostgresServer, startRedisServer } from "@orderly/local-servers/throwaway";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createTestEnvironment } from "./test-environment.js";

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe("a Postgres server of the test's own", () => {
  const closing: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const close of closing) await close();
  });

  it("keeps committed rows across fast and immediate restarts, and goes back to a backup on restore", async () => {
    const server = await startPostgresServer();
    closing.push(() => server.close());
    expect(server.port).not.toBe(5432);
    await query(server.adminUrl, "create table t (n int primary key)");
    await query(server.adminUrl, "insert into t values (1)");
    const backup = await server.backup();
    await query(server.adminUrl, "insert into t values (2)");

    await server.restart("fast");
    expect(await query(server.adminUrl, "select n from t order by n")).toEqual([{ n: 1 }, { n: 2 }]);
    await query(server.adminUrl, "insert into t values (3)");
    await server.restart("immediate");
    expect(await query(server.adminUrl, "select n from t order by n")).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);

    await server.restore(backup);
    expect(server.running).toBe(true);
    expect(await query(server.adminUrl, "select n from t order by n")).toEqual([{ n: 1 }]);

    await server.close();
    expect(server.running).toBe(false);
    await expect(query(server.adminUrl, "select 1")).rejects.toThrow();
  });

  it("hosts test environments like the shared server does", async () => {
    const server = await startPostgresServer();
    closing.push(() => server.close());
    const env = await createTestEnvironment({ adminDatabaseUrl: server.adminUrl });
    expect(env.databaseUrl).toContain(`:${server.port}/orderly_test_`);
    expect(await query(env.databaseUrl, "select 1 as one")).toEqual([{ one: 1 }]);
    await env.cleanup();
  });
});

describe("a NATS server of the test's own", () => {
  it("keeps a JetStream stream's messages across a restart and a kill", async () => {
    const server = await startNatsServer();
    try {
      const session = async <T>(fn: (nc: NatsConnection) => Promise<T>): Promise<T> => {
        const nc = await connect({ servers: server.url });
        try {
          return await fn(nc);
        } finally {
          await nc.close();
        }
      };
      await session(async (nc) => {
        await (await jetstreamManager(nc)).streams.add({ name: "S", subjects: ["s.>"] });
        await jetstream(nc).publish("s.a", "one");
      });
      await server.restart("graceful");
      expect(server.running).toBe(true);
      await session(async (nc) => {
        expect((await (await jetstreamManager(nc)).streams.info("S")).state.messages).toBe(1);
        await jetstream(nc).publish("s.a", "two");
      });
      await server.restart("kill");
      // JetStream writes each message to its file before the ack; a kill of the process (not the machine) keeps it.
      const messages = await session(
        async (nc) => (await (await jetstreamManager(nc)).streams.info("S")).state.messages,
      );
      expect(messages).toBe(2);
    } finally {
      await server.close();
    }
    expect(server.running).toBe(false);
  });
});

describe("a Redis server of the test's own", () => {
  it("comes back empty after a restart", async () => {
    const server = await startRedisServer();
    try {
      const redis = new Redis(server.url, { maxRetriesPerRequest: null });
      await redis.set("k", "v");
      expect(await redis.get("k")).toBe("v");
      await server.restart();
      expect(await redis.get("k")).toBeNull();
      redis.disconnect();
    } finally {
      await server.close();
    }
  });
});
