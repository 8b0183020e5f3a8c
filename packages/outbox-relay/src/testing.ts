// Helpers for the relay's tests, the e2e suites and the benchmark (`@orderly/outbox-relay/testing`).
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createConnection } from "node:net";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventStore } from "@orderly/eventsourcing";
import { testMetadata } from "@orderly/eventsourcing/testing";

/** Appends `total` OrderPlaced events (one new order each) from `writers` concurrent writers. */
export async function appendOrders(store: EventStore, total: number, writers: number): Promise<number[]> {
  let next = 0;
  const positions: number[] = [];
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < total) {
        next++;
        const outcome = await store.append(orderPlacedRequest());
        positions.push(outcome.position);
      }
    }),
  );
  return positions;
}

export function orderPlacedRequest(orderId: string = randomUUID()) {
  const commandId = randomUUID();
  return {
    streamId: `order-${orderId}`,
    expectedVersion: "no_stream" as const,
    events: [
      {
        event: {
          type: "OrderPlaced",
          data: {
            orderId,
            customerId: `customer-${orderId.slice(0, 4)}`,
            currency: "EUR",
            items: [{ sku: "SKU-1", quantity: 2, unitPriceMinor: 1250 }],
            totalMinor: 2500,
          },
        },
        metadata: testMetadata(commandId, {
          eventId: randomUUID(),
          traceparent: `00-${randomUUID().replaceAll("-", "")}-${randomUUID().replaceAll("-", "").slice(0, 16)}-01`,
          // Half the orders with an audit identity (auth on), half without (auth off).
          actor: Number.parseInt(commandId.slice(0, 1), 16) % 2 === 0 ? "svc-checkout" : undefined,
        }),
      },
    ],
  };
}

export interface StoredMessage {
  readonly seq: number;
  readonly position: number;
  readonly msgId: string;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: { get(name: string): string };
}

/** Every message of `stream`, in stream order, read with an ordered consumer. */
export async function readWholeStream(nc: NatsConnection, stream: string): Promise<StoredMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const total = info.state.messages;
  const out: StoredMessage[] = [];
  if (total === 0) return out;
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  while (out.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(5000, total - out.length), expires: 5_000 });
    for await (const m of batch) {
      out.push({
        seq: m.seq,
        position: Number(m.headers?.get("Orderly-Position")),
        msgId: m.headers?.get("Nats-Msg-Id") ?? "",
        subject: m.subject,
        data: m.data,
        headers: { get: (name: string) => m.headers?.get(name) ?? "" },
      });
      if (out.length >= total) break;
    }
  }
  return out;
}

/** Asserts (throws) that `messages` are exactly positions `from`..`to`, in order, once each. */
export function checkGaplessOrder(messages: readonly StoredMessage[], to: number, from = 1): void {
  for (let i = 0; i < messages.length; i++) {
    const position = (messages[i] as StoredMessage).position;
    if (position !== from + i) {
      throw new Error(`stream message #${i + 1} has position ${position}, expected ${from + i}`);
    }
  }
  const expected = to - from + 1;
  if (messages.length !== expected) {
    throw new Error(`stream holds ${messages.length} events, expected ${expected} (positions ${from}..${to})`);
  }
}

export const silentLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

export interface NatsServerProcess {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** SIGKILL (default) or SIGTERM, and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same store directory. */
  restart(): Promise<void>;
}

/** A private nats-server with JetStream (for tests that take NATS down); `port` must be free. */
export async function startNatsServer(port: number, storeDir: string): Promise<NatsServerProcess> {
  const binary = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
  let child: ChildProcess | undefined;
  const launch = async () => {
    const started = spawn(binary, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let output = "";
    started.stderr?.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    child = started;
    const deadline = Date.now() + 20_000;
    while (!(await canConnect(port))) {
      if (started.exitCode !== null) throw new Error(`nats-server exited: ${output}`);
      if (Date.now() > deadline) throw new Error(`nats-server not listening on ${port}: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    async stop(signal = "SIGKILL") {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((resolve) => running.once("exit", resolve));
      running.kill(signal);
      await exited;
    },
    restart: launch,
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
