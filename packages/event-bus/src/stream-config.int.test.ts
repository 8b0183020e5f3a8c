import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createTestEnvironment,
  eventually,
  type NatsCluster,
  startNatsCluster,
  type TestEnvironment,
} from "@orderly/testing";
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

describe("ensureOrdersStream on a 3-node NATS cluster (own nats-servers on loopback)", () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const namespace = "t_replicas";

  beforeAll(async () => {
    cluster = await startNatsCluster();
    nc = await connect({ servers: cluster.url.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    jsm = await jetstreamManager(nc);
  }, 120_000);
  afterAll(async () => {
    await nc?.close();
    await cluster?.close();
  });

  it("applies ORDERLY_STREAM_REPLICAS, updates it when it changes, and leaves it alone when not given", async () => {
    const one = await ensureOrdersStream(jsm, namespace, { replicas: 1 });
    expect(one.config.num_replicas).toBe(1);
    const three = await ensureOrdersStream(jsm, namespace, { replicas: 3 });
    expect(three.config.num_replicas).toBe(3);
    await eventually(
      async () => ((await jsm.streams.info(streamName(namespace))).cluster?.replicas ?? []).length === 2,
      "the stream to have a leader and two replicas",
      30_000,
    );
    // A tool that did not read the deployment's configuration keeps the replica count.
    const untouched = await ensureOrdersStream(jsm, namespace);
    expect(untouched.config.num_replicas).toBe(3);
    expect(() => ordersStreamConfig(namespace, { replicas: 7 })).toThrow(RangeError);
  });

  it("keeps accepting publishes and keeps every message when the stream leader's node is killed", async () => {
    await ensureOrdersStream(jsm, namespace, { replicas: 3 });
    const js = jetstream(nc);
    for (let i = 1; i <= 50; i++) await js.publish(`${namespace}.orders.Test`, `m${i}`, { msgID: `a${i}` });
    const leader = (await jsm.streams.info(streamName(namespace))).cluster?.leader;
    const victim = cluster.nodes.find((_, i) => leader === `orderly-test-n${i + 1}`);
    expect(victim).toBeDefined();
    await victim?.stop("kill");
    await eventually(
      async () => {
        try {
          await js.publish(`${namespace}.orders.Test`, "m51", { msgID: "a51", timeout: 2_000 });
          return true;
        } catch {
          return false;
        }
      },
      "a publish to succeed after the leader's node died",
      30_000,
      200,
    );
    const info = await jsm.streams.info(streamName(namespace));
    expect(info.cluster?.leader).not.toBe(leader);
    expect(info.state.messages).toBe(51);
    await victim?.start();
    await cluster.waitForJetStream();
  }, 90_000);
});
