import { createLogger } from "@orderly/observability";
import { createTestEnvironment, eventually, type TestEnvironment } from "@orderly/testing";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  customerOrdersChannel,
  PostgresCheckpointNotifications,
  parseProjectionNotice,
  RedisCheckpointNotifications,
} from "./checkpoint-notifications.js";
import { MutableCheckpoint } from "./in-memory-read-models.js";
import { PositionWatcher } from "./position-watcher.js";

const logger = createLogger("test", { level: "silent" });
let env: TestEnvironment;
let admin: pg.Client;

beforeAll(async () => {
  env = await createTestEnvironment();
  admin = new pg.Client({ connectionString: env.databaseUrl });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await env?.cleanup();
});

describe("parseProjectionNotice", () => {
  it("parses <name>:<position> and rejects anything else", () => {
    expect(parseProjectionNotice("order_summaries:42")).toEqual({ name: "order_summaries", position: 42 });
    expect(parseProjectionNotice("a:b:7")).toEqual({ name: "a:b", position: 7 });
    for (const bad of ["", "42", ":42", "x:", "x:-1", "x:1.5", "x:99999999999999999"]) {
      expect(parseProjectionNotice(bad), bad).toBeUndefined();
    }
  });
});

describe("PostgresCheckpointNotifications", () => {
  it("wakes waiters on NOTIFY, and after a lost connection re-reads the checkpoint it could not hear", async () => {
    const checkpoints = new MutableCheckpoint();
    const watcher = new PositionWatcher({ name: "order_summaries", checkpoints, pollIntervalMs: 0 });
    const other = new PositionWatcher({
      name: "customer_orders",
      checkpoints: new MutableCheckpoint(),
      pollIntervalMs: 0,
    });
    const notifications = new PostgresCheckpointNotifications({
      connectionString: env.databaseUrl,
      watchers: [watcher, other],
      logger,
    });
    await notifications.start();
    await watcher.start();
    expect(notifications.connected).toBe(true);

    const waiting = watcher.waitFor(5, { timeoutMs: 30_000 });
    await admin.query("select pg_notify('orderly_projections', 'order_summaries_v2:9')");
    await admin.query("select pg_notify('orderly_projections', 'order_summaries:5')");
    await expect(waiting).resolves.toBe("reached");
    expect(watcher.position).toBe(5);
    expect(other.position).toBe(0);

    // Cut the listener's connection; meanwhile the projector commits position 8 and its notice is lost.
    const readsBefore = checkpoints.reads;
    await admin.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'query-service listener'",
    );
    checkpoints.value = 8;
    await eventually(() => watcher.position === 8, "the watcher to re-read the checkpoint after reconnecting");
    expect(checkpoints.reads).toBeGreaterThan(readsBefore);
    await eventually(() => notifications.connected, "the listener to be connected again");

    // And it hears notices again.
    const again = watcher.waitFor(12, { timeoutMs: 30_000 });
    await admin.query("select pg_notify('orderly_projections', 'order_summaries:12')");
    await expect(again).resolves.toBe("reached");

    await notifications.close();
    expect(notifications.connected).toBe(false);
    watcher.stop();
    other.stop();
  });
});

describe("RedisCheckpointNotifications", () => {
  it("wakes waiters on PUBLISH, and after a lost connection re-reads the checkpoint", async () => {
    const channel = customerOrdersChannel(env.namespace);
    const connectionName = `${env.namespace}-subscriber`;
    const checkpoints = new MutableCheckpoint();
    const watcher = new PositionWatcher({ name: "customer_orders", checkpoints, pollIntervalMs: 0 });
    const subscriber = new Redis(env.redisUrl, { lazyConnect: true, connectionName });
    const notifications = new RedisCheckpointNotifications({ subscriber, channel, watcher, logger });
    const publisher = new Redis(env.redisUrl);
    try {
      await notifications.start();
      await watcher.start();
      expect(notifications.connected).toBe(true);

      const waiting = watcher.waitFor(3, { timeoutMs: 30_000 });
      await publisher.publish(`${env.namespace}:other:checkpoint`, "99");
      await publisher.publish(channel, "not a number");
      await publisher.publish(channel, "3");
      await expect(waiting).resolves.toBe("reached");
      expect(watcher.position).toBe(3);

      const clients = (await publisher.client("LIST")) as string;
      const id = clients
        .split("\n")
        .find((line) => line.includes(` name=${connectionName} `))
        ?.match(/^id=(\d+)/)?.[1];
      expect(id).toBeDefined();
      checkpoints.value = 7;
      await publisher.client("KILL", "ID", id as string);
      await eventually(() => watcher.position === 7, "the watcher to re-read the checkpoint after reconnecting");
      await eventually(() => notifications.connected, "the subscriber to be ready again");

      const again = watcher.waitFor(10, { timeoutMs: 30_000 });
      await eventually(async () => (await publisher.publish(channel, "10")) > 0, "the subscription to be back");
      await expect(again).resolves.toBe("reached");
    } finally {
      await notifications.close();
      publisher.disconnect();
      watcher.stop();
    }
  });
});
