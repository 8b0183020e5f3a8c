// EventService figures (issue 16), in one run on one machine, in a database of its own:
//  1. catch-up throughput of SubscribeEvents to one consumer over gRPC (events/s), with the raw Postgres read rate of
//     the same events (PostgresEventFeed, pages of 1000, text rows) measured in the same run as the baseline;
//  2. live latency: commands appended at a fixed rate while one subscriber tails the head; from the append call
//     (before the commit) to the event's arrival at the client, p50/p99 (an upper bound of commit → delivered).
//
// Usage: pnpm build && node scripts/bench-events.mjs [--events 200000] [--rate 1000] [--seconds 10]
// Prints one JSON object. The query service runs in this process (composition root of services/query-service).
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

const root = new URL("..", import.meta.url);
// grpc-js from the query service's own dependencies (the root has none).
const grpcPath = createRequire(new URL("services/query-service/package.json", root)).resolve("@grpc/grpc-js");
const grpc = createRequire(import.meta.url)(grpcPath);

if (!isMainThread) {
  // The catch-up consumer.
  const { port, total, window } = workerData;
  // grpc-js's default HTTP/2 window is 64 KiB (about 180 envelopes in flight); `--window` sets the consumer's own.
  const client = new grpc.Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
    window > 0 ? { "grpc-node.flow_control_window": window } : {},
  );
  let n = 0;
  const call = client.makeServerStreamRequest(
    "/orderly.orders.v1.EventService/SubscribeEvents",
    () => Buffer.alloc(0),
    (bytes) => bytes,
    {},
  );
  call.on("data", (bytes) => {
    n++;
    if (n === total) {
      const last = positionOf(bytes);
      call.cancel();
      client.close();
      parentPort.postMessage(last === total ? { n } : { error: `last position ${last}, want ${total}` });
    }
  });
  call.on("error", (error) => {
    if (error.code !== grpc.status.CANCELLED) parentPort.postMessage({ error: String(error) });
  });
} else {
  const load = (path) => import(new URL(path, root).href);
  const { createTestEnvironment } = await load("packages/testing/dist/index.js");
  const { createPool, migrateEventStore, PostgresEventFeed, PostgresEventStore } = await load(
    "packages/event-store-postgres/dist/index.js",
  );
  const { startQueryService } = await load("services/query-service/dist/app.js");
  const { readQueryServiceConfig } = await load("services/query-service/dist/config.js");
  const { createLogger } = await load("packages/observability/dist/index.js");
  const { testMetadata } = await load("packages/eventsourcing/dist/testing/index.js");

  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "200000" },
      rate: { type: "string", default: "1000" },
      seconds: { type: "string", default: "10" },
      window: { type: "string", default: "0" },
    },
  });
  const total = Number(values.events);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const round = (x, d = 0) => Number(x.toFixed(d));
  const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

  const env = await createTestEnvironment();
  const pool = createPool(env.databaseUrl);
  let service;
  try {
    await migrateEventStore(pool);
    // The backlog: OrderPlaced events written in bulk (what the command service would have appended).
    await pool.query(
      `insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id, correlation_id,
       causation_id, traceparent, occurred_at)
     select g, gen_random_uuid(), 'order-' || u, 1, 'OrderPlaced',
       jsonb_build_object('orderId', u, 'customerId', 'c-' || (g % 1000), 'currency', 'EUR',
         'items', jsonb_build_array(jsonb_build_object('sku', 'sku-1', 'quantity', 2, 'unitPriceMinor', 1250)),
         'totalMinor', 2500),
       c, c, c, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', now()
     from (select g, gen_random_uuid()::text as u, gen_random_uuid() as c from generate_series(1, $1) g) s`,
      [total],
    );
    await pool.query("update global_position set last = $1 where id = 1", [total]);
    await pool.query("vacuum analyze events");

    // Baseline: the raw Postgres read of the same events, the way the EventService reads them.
    const feed = new PostgresEventFeed(pool);
    await feed.read(0, 1000); // warm the plan and the cache as the gRPC run will find them
    let started = performance.now();
    let cursor = 0;
    while (cursor < total) cursor = (await feed.read(cursor, 1000)).readTo;
    const rawSeconds = (performance.now() - started) / 1000;

    const models = { getOrderSummary: async () => undefined, listCustomerOrders: async () => ({ orders: [] }) };
    service = await startQueryService({
      config: readQueryServiceConfig({
        ...env.env,
        QUERY_PORT: "0",
        METRICS_PORT: "0",
        QUERY_HOST: "127.0.0.1",
      }),
      logger: createLogger("bench", { level: "warn" }),
      readers: () => ({
        summaries: models,
        customerOrders: models,
        summariesCheckpoint: { checkpoint: async () => 0 },
        customerOrdersCheckpoint: { checkpoint: async () => 0 },
      }),
    });
    // The catch-up consumer runs in a worker thread (its own event loop, as a separate consumer process would): a grpc-js
    // client that takes each message's bytes and reads the position without a full decode.
    started = performance.now();
    const caughtUp = await new Promise((resolve, reject) => {
      const worker = new Worker(new URL(import.meta.url), {
        workerData: { port: service.grpcPort, total, grpcPath, window: Number(values.window) },
      });
      worker.once("message", (message) => (message.error ? reject(new Error(message.error)) : resolve(message.n)));
      worker.once("error", reject);
    });
    const grpcSeconds = (performance.now() - started) / 1000;

    const client = new grpc.Client(`127.0.0.1:${service.grpcPort}`, grpc.credentials.createInsecure());
    const subscribe = (from) =>
      client.makeServerStreamRequest(
        "/orderly.orders.v1.EventService/SubscribeEvents",
        () => Buffer.from([0x08, ...varint(from)]),
        (bytes) => bytes,
        {},
      );

    // Live: one subscriber at the head; commands appended at `rate` per second (open loop) through the event store.
    const store = new PostgresEventStore(pool);
    const sentAt = new Map();
    const deliveredAt = new Map();
    const live = subscribe(total);
    let expected = total;
    live.on("data", (bytes) => {
      const position = positionOf(bytes);
      if (position !== expected + 1) throw new Error(`live: position ${position} after ${expected}`);
      expected = position;
      deliveredAt.set(position, performance.now());
    });
    live.on("error", () => {});
    await new Promise((r) => setTimeout(r, 300));
    const appends = [];
    const interval = 1000 / rate;
    const liveStart = performance.now();
    for (let i = 0; i < rate * seconds; i++) {
      const due = liveStart + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const calledAt = performance.now();
      const orderId = randomUUID();
      const commandId = randomUUID();
      appends.push(
        store
          .append({
            streamId: `order-${orderId}`,
            expectedVersion: "no_stream",
            events: [
              {
                event: {
                  type: "OrderPlaced",
                  data: { orderId, customerId: "c", currency: "EUR", items: [], totalMinor: 0 },
                },
                metadata: testMetadata(commandId, { eventId: randomUUID() }),
              },
            ],
          })
          .then((outcome) => sentAt.set(outcome.position, calledAt)),
      );
    }
    await Promise.all(appends);
    const target = total + rate * seconds;
    while (expected < target) await new Promise((r) => setTimeout(r, 20));
    live.cancel();
    await store.close();
    client.close();
    // From the append call to the delivery of its position (a delivery may beat the append's own acknowledgement).
    const latencies = [...sentAt].map(([position, at]) => (deliveredAt.get(position) ?? Number.NaN) - at);
    if (latencies.some(Number.isNaN)) throw new Error("an appended position was never delivered");
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify(
        {
          events: total,
          raw_postgres_read_events_per_s: round(total / rawSeconds),
          grpc_catch_up_events_per_s: round(caughtUp / grpcSeconds),
          grpc_vs_raw: round(total / grpcSeconds / (total / rawSeconds), 2),
          live: {
            commands_per_s: rate,
            seconds,
            delivered_with_latency: latencies.length,
            append_call_to_delivered_ms: {
              p50: round(percentile(latencies, 50), 2),
              p99: round(percentile(latencies, 99), 2),
              max: round(latencies.at(-1) ?? 0, 2),
            },
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await service?.close(1_000);
    await pool.end();
    await env.cleanup();
  }
}

function varint(value) {
  const out = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** SubscribeEventsResponse bytes → the envelope's position (field 2), reading only as far as it. */
function positionOf(bytes) {
  let pos = 1; // 0x0a
  while (bytes[pos] & 0x80) pos++;
  pos++;
  // envelope: field 1 (event_id, LEN) first, then field 2 (position, VARINT)
  if (bytes[pos] !== 0x0a) throw new Error("unexpected envelope layout");
  pos++;
  const idLength = bytes[pos++];
  pos += idLength;
  if (bytes[pos] !== 0x10) throw new Error("no position");
  pos++;
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = bytes[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 128;
  }
}
