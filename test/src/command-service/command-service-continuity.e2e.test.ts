import * as grpc from "@grpc/grpc-js";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { headers as busHeaders, ensureOrdersStream, streamName, subjectFor } from "@orderly/event-bus";
import {
  createTestEnvironment,
  dumpDatabase,
  eventually,
  freePort,
  type NatsServer,
  replaceDatabase,
  startNatsServer,
  startService,
} from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricValue } from "../ops/support.js";
import {
  commandClient,
  commandServiceEntry,
  commandServiceEnv,
  createOrderRequest,
  type StartedCommandService,
  startCommandService,
} from "./command-client.js";

// The command service's continuity gate (issue 13): positions are never reused. A store that went back behind the event
// stream (restored from a dump taken mid-run, in the test's own database) makes it refuse appends with UNAVAILABLE,
// report NOT_SERVING and orderly_store_diverged 1, and log one error naming `pnpm orderly recover`; it accepts again by
// itself once the store agrees with the stream. Without NATS it fails open (appends go through, unverified 1).

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222" });
});
afterAll(async () => {
  await nc?.close();
});

/** What the relay does, in miniature: every event of the store onto the stream, with its position and id. */
async function publishStore(stack: StartedCommandService): Promise<void> {
  const namespace = stack.env.namespace;
  const jsm = await jetstreamManager(nc);
  await ensureOrdersStream(jsm, namespace);
  const info = await jsm.streams.info(streamName(namespace));
  const js = jetstream(nc);
  const { rows } = await stack.db.query<{ position: string; event_id: string; event_type: string }>(
    "select position::text, event_id::text, event_type from events e where e.position > $1 order by e.position",
    [info.state.messages],
  );
  for (const row of rows) {
    const h = natsHeaders();
    h.set(busHeaders.position, row.position);
    await js.publish(subjectFor(namespace, row.event_type), new Uint8Array([1]), { msgID: row.event_id, headers: h });
  }
}

async function scrape(stack: StartedCommandService, name: string): Promise<number | undefined> {
  return metricValue(await (await fetch(stack.metricsUrl)).text(), name);
}

async function ready(stack: StartedCommandService): Promise<boolean> {
  const response = await fetch(stack.metricsUrl.replace("/metrics", "/readyz")).catch(() => undefined);
  return response?.status === 200;
}

function errorLines(stack: StartedCommandService): string[] {
  return stack.service
    .output()
    .split("\n")
    .filter((line) => line.includes('"level":50'));
}

describe("command service: continuity gate", () => {
  it("refuses appends while the store is behind the stream (restored from a dump), and accepts once it agrees", async () => {
    const stack = await startCommandService();
    const client = commandClient(stack.address);
    try {
      for (let i = 0; i < 5; i++) await client.call("CreateOrder", createOrderRequest());
      const dump = await dumpDatabase(stack.env.databaseUrl);
      for (let i = 0; i < 5; i++) await client.call("CreateOrder", createOrderRequest());
      await publishStore(stack);
      expect(await scrape(stack, "orderly_store_diverged")).toBe(0);

      stack.db.on("error", () => undefined); // its sessions are cut by the restore, as the service's are
      try {
        await replaceDatabase(stack.env.databaseUrl, dump);
      } finally {
        await dump.remove();
      }
      const restoredAt = Date.now();
      // Its connections were cut: it checks the stream's tail (position 10) against the store (head 5).
      await eventually(async () => (await scrape(stack, "orderly_store_diverged")) === 1, "diverged", 15_000);
      const detectedMs = Date.now() - restoredAt;
      expect(await ready(stack)).toBe(false);
      const refused = await client.fail("CreateOrder", createOrderRequest());
      expect(refused.code).toBe(grpc.status.UNAVAILABLE);
      expect(refused.details).toContain("the event store is behind the event stream");
      expect(refused.details).toContain("pnpm orderly recover");
      const { rows } = await stack.db.query<{ last: string }>("select last::text from global_position");
      expect(rows[0]?.last).toBe("5");
      const errors = errorLines(stack);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain("position 10");
      expect(errors[0]).toContain("head is 5");
      expect(errors[0]).toContain("pnpm orderly recover");

      // What a recovery's reset leaves: a stream that holds the store's own events (here: emptied, then republished).
      await (await jetstreamManager(nc)).streams.delete(streamName(stack.env.namespace));
      await publishStore(stack);
      await eventually(async () => (await scrape(stack, "orderly_store_diverged")) === 0, "agrees again", 15_000);
      await eventually(() => ready(stack), "ready again", 10_000);
      const accepted = await client.call("CreateOrder", createOrderRequest());
      expect(accepted.accepted.position).toBe("6");
      expect(errorLines(stack)).toHaveLength(1);
      console.info(`command service: divergence detected ${detectedMs} ms after the restore`);
    } finally {
      client.close();
      await stack.cleanup();
    }
  });

  it("refuses from its start on a fresh database under a namespace whose stream holds events", async () => {
    const env = await createTestEnvironment();
    const first = await startCommandService({ env });
    const firstClient = commandClient(first.address);
    try {
      for (let i = 0; i < 3; i++) await firstClient.call("CreateOrder", createOrderRequest());
      await publishStore(first);
    } finally {
      firstClient.close();
      await first.service.stop();
      await first.db.end();
    }
    await replaceDatabase(env.databaseUrl);
    const commandPort = await freePort();
    const metricsPort = await freePort();
    const service = await startService({
      name: "command-service",
      entry: commandServiceEntry,
      env: commandServiceEnv(env, commandPort, metricsPort),
      // Not /readyz: it never becomes ready while the store is behind the stream.
      readyLine: /command-service ready/,
      readyTimeoutMs: 60_000,
    });
    const client = commandClient(`127.0.0.1:${commandPort}`);
    try {
      const refused = await client.fail("CreateOrder", createOrderRequest());
      expect(refused.code).toBe(grpc.status.UNAVAILABLE);
      expect(refused.details).toMatch(/the event store is behind the event stream .*position 3.*head is 0/);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metricValue(metrics, "orderly_store_diverged")).toBe(1);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(503);
    } finally {
      client.close();
      await service.stop();
      await env.cleanup();
    }
  });

  it("fails open when NATS cannot be reached (unverified), and checks as soon as it answers", async () => {
    let nats: NatsServer | undefined = await startNatsServer();
    await nats.stop();
    const env = await createTestEnvironment();
    const stack = await startCommandService({ env, serviceEnv: { NATS_URL: nats.url } });
    const client = commandClient(stack.address);
    try {
      await client.call("CreateOrder", createOrderRequest());
      expect(await scrape(stack, "orderly_store_continuity_unverified")).toBe(1);
      expect(await scrape(stack, "orderly_store_diverged")).toBe(0);
      expect(await ready(stack)).toBe(true);
      expect(stack.service.output()).toContain("accepting commands unchecked");
      await nats.start();
      await eventually(
        async () => (await scrape(stack, "orderly_store_continuity_unverified")) === 0,
        "verified once NATS answers",
        20_000,
      );
      await client.call("CreateOrder", createOrderRequest());
    } finally {
      client.close();
      await stack.cleanup();
      await nats?.close();
      nats = undefined;
    }
  });
});
