import { randomUUID } from "node:crypto";
import { freePort, type PostgresServer, startPostgresServer, startService } from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectConcurrentReadBack,
  expectReadYourWrites,
  getSummary as getSummaryOf,
} from "./read-your-writes-checks.js";
import { createClient, createOrder, metricsText, metricValue, type Stack, serviceEntry, startStack } from "./stack.js";

// Read-your-writes with order_summaries read from a Postgres streaming replica (QUERY_DATABASE_URL). The shared
// server does not allow replication connections, so the suite runs its own primary (initdb) and a replica of it
// (pg_basebackup -R: standby.signal, streaming from the primary) on loopback ports; NATS and Redis are the shared ones.

let primary: PostgresServer;
let replica: PostgresServer;
let stack: Stack;
let replicaDatabaseUrl: string;

beforeAll(async () => {
  // The projector commits asynchronously: its WAL reaches the replica when the WAL writer flushes it (every
  // wal_writer_delay, 200 ms by default), which is what a replica read waits for. docs/scaling.md has the figures.
  primary = await startPostgresServer({
    settings: { wal_writer_delay: process.env.ORDERLY_TEST_WAL_WRITER_DELAY ?? "10ms" },
  });
  replica = await startPostgresServer({ replicaOf: primary });
  stack = await startStack({
    servers: { adminDatabaseUrl: primary.adminUrl },
    queryEnv: (env) => {
      replicaDatabaseUrl = replica.databaseUrl(new URL(env.databaseUrl).pathname.slice(1));
      return { QUERY_DATABASE_URL: replicaDatabaseUrl, QUERY_MAX_WAIT_MS: "20000" };
    },
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await replica?.close();
  await primary?.close();
}, 60_000);

const getSummary = (orderId: string, minPosition: string) => getSummaryOf(stack, orderId, minPosition);

async function onReplica<T>(sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: replicaDatabaseUrl });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe("read-your-writes against a streaming replica (QUERY_DATABASE_URL)", () => {
  it("the replica is a standby streaming from the primary", async () => {
    const [row] = await onReplica<{ standby: boolean }>("select pg_is_in_recovery() as standby");
    expect(row?.standby).toBe(true);
  });

  it("60 × CreateOrder → GetOrderSummary, payment → GetOrderSummary: every read right first time (and its latency vs the primary's)", async () => {
    // The same reads through a query service that reads the primary, in the same run: the baseline of the figure.
    const port = await freePort();
    const metricsPort = await freePort();
    const onPrimary = await startService({
      name: "query-service-primary",
      entry: serviceEntry("query-service"),
      env: {
        ...stack.env.env,
        QUERY_PORT: String(port),
        METRICS_PORT: String(metricsPort),
        QUERY_MAX_WAIT_MS: "20000",
      },
      readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
      readyTimeoutMs: 60_000,
    });
    const primaryQueries = await createClient("QueryService", port);
    const replicaMs: number[] = [];
    const primaryMs: number[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        const customerId = `replica-${i}-${randomUUID()}`;
        await expectReadYourWrites(stack, customerId, async (orderId, minPosition) => {
          const started = performance.now();
          const summary = await getSummary(orderId, minPosition);
          replicaMs.push(performance.now() - started);
          return summary;
        });

        const baseline = await createOrder(stack, customerId);
        const started = performance.now();
        await primaryQueries.unary("GetOrderSummary", { order_id: baseline.order_id, min_position: baseline.position });
        primaryMs.push(performance.now() - started);
      }
    } finally {
      primaryQueries.close();
      await onPrimary.stop();
    }
    const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    console.log(
      `CreateOrder → GetOrderSummary(min_position), sequential: replica p50 ${p50(replicaMs).toFixed(1)} ms, primary p50 ${p50(primaryMs).toFixed(1)} ms (${(p50(replicaMs) / p50(primaryMs)).toFixed(2)}×)`,
    );
    const metrics = await metricsText(stack, "query-service");
    expect(metricValue(metrics, "query_wait_timeouts_total")).toBe(0);
  }, 300_000);

  it("500 orders by 32 concurrent clients, each read back at once with min_position: zero failures", async () => {
    await expectConcurrentReadBack(
      stack,
      Array.from({ length: 16 }, (_, i) => `conc-${i}`),
    );
  }, 300_000);

  it("waits for the replica, not the primary: with replay paused the read waits, and answers once replay resumes", async () => {
    await onReplica("select pg_wal_replay_pause()");
    try {
      const created = await createOrder(stack, `paused-${randomUUID()}`);
      // The projector committed the row and its checkpoint on the primary, which announced it; the replica has not.
      const primaryClient = new pg.Client({ connectionString: stack.env.databaseUrl });
      await primaryClient.connect();
      try {
        const deadline = Date.now() + 20_000;
        while (true) {
          const { rows } = await primaryClient.query(
            "select position from projection_checkpoints where name = 'order_summaries'",
          );
          if (Number(rows[0]?.position ?? 0) >= Number(created.position)) break;
          if (Date.now() > deadline) throw new Error("the projector did not apply the order on the primary");
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        await primaryClient.end();
      }
      const read = getSummary(created.order_id, created.position);
      let settled = false;
      void read.then(
        () => {
          settled = true;
        },
        () => {
          settled = true;
        },
      );
      await new Promise((r) => setTimeout(r, 1_000));
      expect(settled).toBe(false); // a read served from the primary's announcement would have answered (NOT_FOUND)
      await onReplica("select pg_wal_replay_resume()");
      const summary = await read;
      expect(summary.summary.order_id).toBe(created.order_id);
    } finally {
      await onReplica("select pg_wal_replay_resume()").catch(() => undefined);
    }
  }, 60_000);
});
