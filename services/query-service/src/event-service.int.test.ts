import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { EventService, type ReadEventsResponseSchema, type SubscribeEventsResponse } from "@orderly/contracts";
import { PostgresEventStore } from "@orderly/event-store-postgres";
import { seededRandom } from "@orderly/eventsourcing";
import { testMetadata } from "@orderly/eventsourcing/testing";
import { grpcServiceDefinition } from "@orderly/grpc-server";
import { type OrderEvent, orderStreamId } from "@orderly/orders-domain";
import { eventually, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningQueryService, startQueryService } from "./app.js";
import { InMemoryReadModels } from "./in-memory-read-models.js";
import { eventStoreTestEnvironment, inMemoryReaders, testLogger, testServiceConfig } from "./test-service.js";

// EventService against the real Postgres event store, served by the query service's composition root in-process and
// called over real gRPC. The store is appended to directly (PostgresEventStore), as the command service does.

const STALL_TIMEOUT_MS = 4_000;
let env: TestEnvironment;
let pool: pg.Pool;
let store: PostgresEventStore;
let service: RunningQueryService;
const registry = new Registry();

beforeAll(async () => {
  ({ env, pool } = await eventStoreTestEnvironment());
  store = new PostgresEventStore(pool);
  const models = new InMemoryReadModels();
  service = await startQueryService({
    config: testServiceConfig(env.env, { QUERY_EVENTS_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS) }),
    logger: testLogger,
    registry,
    readers: inMemoryReaders(models),
  });
});

afterAll(async () => {
  await service?.close(1_000);
  await store?.close();
  await pool?.end();
  await env?.cleanup();
});

type EventsClient = grpc.Client & {
  readEvents(
    request: object,
    callback: (error: grpc.ServiceError | null, response?: Uint8Array) => void,
  ): grpc.ClientUnaryCall;
  subscribeEvents(request: object, options?: grpc.CallOptions): grpc.ClientReadableStream<SubscribeEventsResponse>;
};

function client(): EventsClient {
  const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(EventService), "EventService");
  return new Client(`127.0.0.1:${service.grpcPort}`, grpc.credentials.createInsecure()) as unknown as EventsClient;
}

const clients: EventsClient[] = [];
function newClient(): EventsClient {
  const c = client();
  clients.push(c);
  return c;
}
afterAll(() => {
  for (const c of clients) c.close();
});

let orders = 0;
/** One command: an order placed, sometimes followed by more events in the same transaction. */
async function placeOrder(extra = 0): Promise<number> {
  const orderId = randomUUID();
  const commandId = randomUUID();
  const events: OrderEvent[] = [
    {
      type: "OrderPlaced",
      data: {
        orderId,
        customerId: `c-${orders++ % 7}`,
        currency: "EUR",
        items: [{ sku: "sku-1", quantity: 2, unitPriceMinor: 150 }],
        totalMinor: 300,
      },
    },
  ];
  for (let i = 0; i < extra; i++)
    events.push({ type: "PaymentAuthorized", data: { amountMinor: 300, paymentReference: `ref-${i}` } });
  const outcome = await store.append({
    streamId: orderStreamId(orderId),
    expectedVersion: "no_stream",
    events: events.map((event) => ({
      event,
      metadata: testMetadata(commandId),
    })),
  });
  return outcome.position;
}

async function head(): Promise<number> {
  return Number((await pool.query("select last from global_position where id = 1")).rows[0].last);
}

function read(c: EventsClient, request: object): Promise<{ positions: number[]; types: string[]; next: number }> {
  return new Promise((resolve, reject) =>
    c.readEvents(request, (error, response) => {
      if (error) return reject(error);
      const message = response as unknown as ReturnType<typeof fromBinary<typeof ReadEventsResponseSchema>>;
      resolve({
        positions: message.events.map((e) => Number(e.position)),
        types: message.events.map((e) => e.eventType),
        next: Number(message.nextPosition),
      });
    }),
  );
}

function statusOf(promise: Promise<unknown>): Promise<grpc.status | "ok"> {
  return promise.then(
    () => "ok" as const,
    (error: grpc.ServiceError) => error.code,
  );
}

/**
 * Positions received on a subscription until `until` returns true; then cancels it. `recheck` asks again without a
 * new event (when what `until` looks at changed).
 */
function follow(
  c: EventsClient,
  request: object,
  until: (positions: number[]) => boolean,
  options: grpc.CallOptions = {},
): Promise<number[]> & { recheck(): void } {
  let recheck = () => {};
  const promise = new Promise<number[]>((resolve, reject) => {
    const positions: number[] = [];
    const call = c.subscribeEvents(request, options);
    let done = false;
    recheck = () => {
      if (done || !until(positions)) return;
      done = true;
      call.cancel();
      resolve(positions);
    };
    call.on("data", (message: SubscribeEventsResponse) => {
      if (done) return;
      positions.push(Number(message.event?.position));
      recheck();
    });
    call.on("error", (error: grpc.ServiceError) => {
      if (!done) reject(error);
    });
    call.on("end", () => {
      if (!done) reject(new Error(`stream ended after ${positions.length} events`));
    });
  });
  return Object.assign(promise, { recheck: () => recheck() });
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("ReadEvents", () => {
  it("pages the log in position order, filters by type, and says where to go on", async () => {
    const start = await head();
    for (let i = 0; i < 30; i++) await placeOrder(i % 3);
    const end = await head();
    const c = newClient();
    const all: number[] = [];
    let from = start;
    for (;;) {
      const page = await read(c, { fromPosition: BigInt(from), maxCount: 7 });
      all.push(...page.positions);
      if (page.positions.length < 7) {
        expect(page.next).toBe(end);
        break;
      }
      expect(page.next).toBe(page.positions.at(-1));
      from = page.next;
    }
    expect(all).toEqual(range(start + 1, end));

    const placed = await read(c, { fromPosition: BigInt(start), maxCount: 1000, eventTypes: ["OrderPlaced"] });
    expect(placed.positions).toHaveLength(30);
    expect(new Set(placed.types)).toEqual(new Set(["OrderPlaced"]));
    // Fewer than max_count matched: the whole log up to the head was looked at.
    expect(placed.next).toBe(end);
    const nothing = await read(c, { fromPosition: BigInt(end), maxCount: 0 });
    expect(nothing).toEqual({ positions: [], types: [], next: end });
    const byDefault = await read(c, { fromPosition: 0n });
    expect(byDefault.positions).toEqual(range(1, Math.min(100, end)));
  });

  it("answers INVALID_ARGUMENT for a negative position, max_count out of range and an unknown event type", async () => {
    const c = newClient();
    const invalid = grpc.status.INVALID_ARGUMENT;
    expect(await statusOf(read(c, { fromPosition: -1n }))).toBe(invalid);
    expect(await statusOf(read(c, { maxCount: 1001 }))).toBe(invalid);
    expect(await statusOf(read(c, { maxCount: -5 }))).toBe(invalid);
    expect(await statusOf(read(c, { eventTypes: ["OrderPlaced", "OrderTeleported"] }))).toBe(invalid);
    expect(await statusOf(read(c, { maxCount: 1000 }))).toBe("ok");
    const stream = follow(c, { fromPosition: -3n }, () => true);
    expect(await statusOf(stream)).toBe(invalid);
    expect(await statusOf(follow(c, { eventTypes: ["Nope"] }, () => true))).toBe(invalid);
  });

  it("answers FAILED_PRECONDITION for a position beyond the store's head (a restored store, a foreign checkpoint)", async () => {
    const c = newClient();
    const beyond = BigInt((await head()) + 1_000_000);
    expect(await statusOf(read(c, { fromPosition: beyond }))).toBe(grpc.status.FAILED_PRECONDITION);
    expect(await statusOf(follow(c, { fromPosition: beyond }, () => true))).toBe(grpc.status.FAILED_PRECONDITION);
  });
});

describe("SubscribeEvents", () => {
  it("catches up and then tails live with commands committing during the switch: every event once, in order (randomised, many runs)", async () => {
    const seed = Number(process.env.EVENTS_TEST_SEED ?? Date.now() % 1_000_000);
    const runs = Number(process.env.EVENTS_TEST_RUNS ?? 12);
    const next = seededRandom(seed);
    const random = { int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)) };
    for (let run = 0; run < runs; run++) {
      const before = random.int(0, 40);
      for (let i = 0; i < before; i++) await placeOrder(random.int(0, 2));
      const now = await head();
      const from = random.int(Math.max(0, now - 200), now);
      const c = newClient();
      // Writers start at a random moment around the subscribe call: some commits land during the catch-up read,
      // some during the switch to live, some while live.
      const writers = async () => {
        await sleep(random.int(0, 30));
        const commands = random.int(5, 60);
        await Promise.all(
          Array.from({ length: random.int(1, 4) }, async () => {
            for (let i = 0; i < commands / 2; i++) {
              await placeOrder(random.int(0, 2));
              if (random.int(0, 3) === 0) await sleep(random.int(0, 5));
            }
          }),
        );
        return head();
      };
      let target = Number.POSITIVE_INFINITY;
      const received = follow(c, { fromPosition: BigInt(from) }, (positions) => (positions.at(-1) ?? 0) >= target, {
        deadline: Date.now() + 20_000,
      });
      target = await writers();
      received.recheck();
      const positions = await received;
      expect(positions, `seed ${seed} run ${run}: from ${from} to ${target}`).toEqual(range(from + 1, target));
    }
  });

  it("hands on an event type this release does not know: event_type set, the event case empty, positions unbroken", async () => {
    const start = await head();
    const c = newClient();
    const received: SubscribeEventsResponse[] = [];
    const subscription = c.subscribeEvents({ fromPosition: BigInt(start) });
    const done = new Promise<void>((resolve, reject) => {
      subscription.on("data", (message: SubscribeEventsResponse) => {
        received.push(message);
        if (received.length === 3) resolve();
      });
      subscription.on("error", (error: grpc.ServiceError) => {
        if (error.code !== grpc.status.CANCELLED) reject(error);
      });
    });
    await placeOrder();
    // What a newer release of the command service would write: a type this one does not know.
    const client = await pool.connect();
    try {
      await client.query("begin");
      const next = await client.query("update global_position set last = last + 1 where id = 1 returning last");
      const id = randomUUID();
      await client.query(
        `insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id,
           correlation_id, causation_id, occurred_at, schema_version)
         values ($1, $2, $3, 1, 'OrderGiftWrapped', '{"paper":"red"}', $2, $2, $2, now(), 1)`,
        [next.rows[0].last, id, `order-${id}`],
      );
      await client.query("select pg_notify('orderly_events', $1::text)", [String(next.rows[0].last)]);
      await client.query("commit");
    } finally {
      client.release();
    }
    await placeOrder();
    await done;
    subscription.cancel();
    expect(received.map((m) => Number(m.event?.position))).toEqual([start + 1, start + 2, start + 3]);
    const unknown = received[1]?.event;
    expect(unknown?.eventType).toBe("OrderGiftWrapped");
    expect(unknown?.event.case).toBeUndefined();
    expect(received[0]?.event?.event.case).toBe("orderPlaced");
    const page = await read(c, { fromPosition: BigInt(start), maxCount: 3 });
    expect(page.types).toEqual(["OrderPlaced", "OrderGiftWrapped", "OrderPlaced"]);
    // Filtering by a type the server does not know is the caller's mistake.
    expect(await statusOf(read(c, { eventTypes: ["OrderGiftWrapped"] }))).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("resumes exactly from every 100th position", async () => {
    while ((await head()) < 1_100) await Promise.all(Array.from({ length: 20 }, () => placeOrder(2)));
    const c = newClient();
    for (let from = 0; from <= 1_000; from += 100) {
      const positions = await follow(c, { fromPosition: BigInt(from) }, (p) => p.length === 100);
      expect(positions, `from ${from}`).toEqual(range(from + 1, from + 100));
    }
  });

  it("filters by event type across catch-up and live", async () => {
    const start = await head();
    const c = newClient();
    const received = follow(
      c,
      { fromPosition: BigInt(start), eventTypes: ["PaymentAuthorized"] },
      (p) => p.length === 6,
    );
    for (let i = 0; i < 3; i++) await placeOrder(2);
    const positions = await received;
    // Each command: OrderPlaced at P, PaymentAuthorized at P+1 and P+2.
    const expected = [1, 2, 4, 5, 7, 8].map((offset) => start + 1 + offset);
    expect(positions).toEqual(expected);
  });

  it("ends on the caller's deadline and on cancel, and the subscriber leaves the metrics", async () => {
    const c = newClient();
    const ended = follow(c, { fromPosition: BigInt(await head()) }, () => false, { deadline: Date.now() + 400 });
    expect(await statusOf(ended)).toBe(grpc.status.DEADLINE_EXCEEDED);
    await eventually(async () => service.events.subscribers.length === 0, "no subscribers left", 5_000);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^event_subscribers 0$/m);
    expect(metrics).toMatch(/^event_subscription_events_sent_total [1-9]\d*$/m);
  });

  it("pauses a stalled consumer (bounded server memory) while others continue, then tells it RESOURCE_EXHAUSTED", async () => {
    const start = await head();
    const total = 6_000;
    const stalledClient = newClient();
    const stalled = stalledClient.subscribeEvents({ fromPosition: BigInt(start) });
    let stalledReceived = 0;
    const stalledEnd = new Promise<grpc.status>((resolve) => {
      stalled.on("error", (error: grpc.ServiceError) => resolve(error.code));
      stalled.on("end", () => resolve(grpc.status.OK));
    });
    stalled.on("data", () => {
      stalledReceived++;
      // Reads one message, then stops reading: HTTP/2 flow control fills up and the server must stop producing.
      stalled.pause();
    });
    const healthy = follow(newClient(), { fromPosition: BigInt(start) }, (p) => p.length === total);
    const heapBefore = process.memoryUsage().heapUsed;
    const writing = Date.now();
    // 30 events per command, 10 commands at a time.
    for (let written = 0; written < total; written += 300) await Promise.all(range(1, 10).map(() => placeOrder(29)));
    const positions = await healthy;
    expect(Date.now() - writing, "writes outlasted the stall timeout: the test proves nothing").toBeLessThan(
      STALL_TIMEOUT_MS,
    );
    expect(positions).toEqual(range(start + 1, start + total));
    const stalledSub = service.events.subscribers.find((s) => s.position < start + total);
    // The server read at most a page and a flow-control window's worth for the stalled consumer.
    expect(stalledSub, "the stalled subscription is still open").toBeDefined();
    expect((stalledSub?.position ?? 0) - start).toBeLessThan(2_000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    const lag = (await registry.getSingleMetricAsString("event_subscriber_lag_events")).match(
      /subscriber="\d+"} (\d+)/,
    );
    expect(Number(lag?.[1])).toBeGreaterThan(total - 2_000);
    // Past the stall timeout the server gives up on it and says why.
    await sleep(STALL_TIMEOUT_MS + 500);
    stalled.resume();
    stalled.removeAllListeners("data");
    stalled.on("data", () => stalledReceived++);
    expect(await stalledEnd).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(stalledReceived).toBeLessThan(2_000);
  });
});
