import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streamName } from "./names.js";
import { ensureOrdersStream, ordersStreamConfig } from "./stream-config.js";

describe("ensureOrdersStream (real NATS)", () => {
  let env: TestEnvironment;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    env = await createTestEnvironment();
    nc = await connect({ servers: env.natsUrl });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await env?.cleanup();
  });

  it("creates the stream from the configuration file, then leaves it alone", async () => {
    const created = await ensureOrdersStream(jsm, env.namespace);
    const wanted = ordersStreamConfig(env.namespace);
    expect(created.config.name).toBe(streamName(env.namespace));
    expect(created.config.subjects).toEqual([`${env.namespace}.orders.>`]);
    expect(created.config.storage).toBe("file");
    expect(created.config.duplicate_window).toBe(wanted.duplicate_window);
    expect(created.config.max_age).toBe(wanted.max_age);
    const again = await ensureOrdersStream(jsm, env.namespace);
    expect(again.created).toEqual(created.created);
  });

  it("updates a stream that drifted from the configuration", async () => {
    const name = streamName(env.namespace);
    await jsm.streams.update(name, { max_age: 60_000_000_000, duplicate_window: 10_000_000_000 });
    expect((await jsm.streams.info(name)).config.max_age).toBe(60_000_000_000);
    const fixed = await ensureOrdersStream(jsm, env.namespace);
    expect(fixed.config.max_age).toBe(ordersStreamConfig(env.namespace).max_age);
    expect(fixed.config.duplicate_window).toBe(ordersStreamConfig(env.namespace).duplicate_window);
  });

  it("is safe when several processes ensure it at once", async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => ensureOrdersStream(jsm, env.namespace)));
    expect(new Set(results.map((r) => r.config.name)).size).toBe(1);
  });
});
