// EventService figures (issue 16), in one run on one machine, in a database of its own:
//  1. catch-up throughput of SubscribeEvents to one consumer over gRPC (events/s), with the raw Postgres read rate of
//     the same events (PostgresEventFeed, pages of 1000, text rows) measured in the same run as the baseline;
//  2. the maximum command rate of the store in the same run: appends (one OrderPlaced each, its own transaction, as the
//     command service's unbatched path) in a closed loop with `--concurrency` in flight for `--max-seconds`;
//  3. live latency: commands appended at a fixed open-loop rate (default: half that maximum) while one subscriber tails
//     the head; from the append call (before the commit) to the event's arrival at the client, p50/p99 (an upper bound
//     of commit → delivered), with how long the appends themselves took.
//
// Usage: pnpm build && node scripts/bench-events.mjs [--events 200000] [--rate <n>|half] [--seconds 10]
//        [--concurrency 32] [--max-seconds 3] [--window <bytes>]
// Prints one JSON object. The query service runs in this process (composition root of services/query-service).
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

const root = new URL("..", import.meta.url);
// grpc-js from the query service's own dependencies (the root has none).
const grpcPath = createRequire(new URL("services/query-service/package.json", root)).resolve("@grpc/grpc-js");
const grpc = createRequire(import.meta.url)(grpcPath);

const now = () => performance.timeOrigin + performance.now(); // one clock across threads

if (!isMainThread && workerData.mode === "live") {
  // The live subscriber, on a thread of its own (as a consumer process would be): records when each position arrived.
  const { port, from, until } = workerData;
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.makeServerStreamRequest(
    "/orderly.orders.v1.EventService/SubscribeEvents",
    () => Buffer.from([0x08, ...varint(from)]),
    (bytes) => bytes,
    {},
  );
  const arrived = [];
  let expected = from;
  call.on("data", (bytes) => {
    const position = positionOf(bytes);
    if (position !== expected + 1) {
      parentPort.postMessage({ error: `live: position ${position} after ${expected}` });
      return;
    }
    expected = position;
    arrived.push(position, now());
    if (position === until) {
      call.cancel();
      client.close();
      parentPort.postMessage({ arrived });
    }
  });
  call.on("error", (error) => {
    if (error.code !== grpc.status.CANCELLED) parentPort.postMessage({ error: String(error) });
  });
  parentPort.postMessage({ ready: true });
} else if (!isMainThread) {
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
      rate: { type: "string", default: "half" },
      concurrency: { type: "string", default: "32" },
      "max-seconds": { type: "string", default: "3" },
      seconds: { type: "string", default: "10" },
      window: { type: "string", default: "0" },
    },
  });
  const total = Number(values.events);
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

    const store = new PostgresEventStore(pool);
    const appendOne = () => {
      const orderId = randomUUID();
      return store.append({
        streamId: `order-${orderId}`,
        expectedVersion: "no_stream",
        events: [
          {
            event: {
              type: "OrderPlaced",
              data: { orderId, customerId: "c", currency: "EUR", items: [], totalMinor: 0 },
            },
            metadata: testMetadata(randomUUID(), { eventId: randomUUID() }),
          },
        ],
      });
    };

    // The maximum command rate, measured now (closed loop, `concurrency` appends in flight), with nobody subscribed.
    const maxSeconds = Number(values["max-seconds"]);
    const concurrency = Number(values.concurrency);
    let maxCount = 0;
    const maxStart = performance.now();
    const maxEnd = maxStart + maxSeconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < maxEnd) {
          await appendOne();
          maxCount++;
        }
      }),
    );
    const maxRate = maxCount / ((performance.now() - maxStart) / 1000);
    const rate = values.rate === "half" ? Math.max(1, Math.round(maxRate / 2)) : Number(values.rate);
    const headBeforeLive = await store.headPosition();

    // Live: one subscriber at the head; commands appended at `rate` per second (open loop) through the event store.
    const sentAt = new Map();
    const target = headBeforeLive + rate * seconds;
    const liveWorker = new Worker(new URL(import.meta.url), {
      workerData: { mode: "live", port: service.grpcPort, from: headBeforeLive, until: target },
    });
    const delivered = new Promise((resolve, reject) => {
      liveWorker.on("message", (message) => {
        if (message.error) reject(new Error(message.error));
        else if (message.arrived) resolve(message.arrived);
      });
      liveWorker.once("error", reject);
    });
    await new Promise((resolve) => liveWorker.once("message", resolve)); // the worker has called
    await new Promise((r) => setTimeout(r, 500)); // and the server has it waiting at the head
    const appends = [];
    const appendMs = [];
    const ackedAtOf = new Map();
    const interval = 1000 / rate;
    const liveStart = performance.now();
    for (let i = 0; i < rate * seconds; i++) {
      const due = liveStart + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const calledAt = now();
      appends.push(
        appendOne().then((outcome) => {
          const ackedAt = now();
          sentAt.set(outcome.position, calledAt);
          ackedAtOf.set(outcome.position, ackedAt);
          appendMs.push(ackedAt - calledAt);
        }),
      );
    }
    await Promise.all(appends);
    const arrived = await delivered;
    const deliveredAt = new Map();
    for (let i = 0; i < arrived.length; i += 2) deliveredAt.set(arrived[i], arrived[i + 1]);
    await store.close();
    // From the append call to the delivery of its position (a delivery may beat the append's own acknowledgement).
    const latencies = [...sentAt].map(([position, at]) => (deliveredAt.get(position) ?? Number.NaN) - at);
    if (latencies.some(Number.isNaN)) throw new Error("an appended position was never delivered");
    latencies.sort((a, b) => a - b);
    // From the appender's acknowledgement to the delivery: a lower bound of commit → delivered (negative when the
    // subscriber had it before the appender heard back).
    const afterAck = [...ackedAtOf].map(([position, at]) => (deliveredAt.get(position) ?? Number.NaN) - at);
    afterAck.sort((a, b) => a - b);
    console.log(
      JSON.stringify(
        {
          events: total,
          raw_postgres_read_events_per_s: round(total / rawSeconds),
          grpc_catch_up_events_per_s: round(caughtUp / grpcSeconds),
          grpc_vs_raw: round(total / grpcSeconds / (total / rawSeconds), 2),
          max_commands_per_s: round(maxRate),
          max_rate_concurrency: concurrency,
          load_average: (await import("node:os")).loadavg().map((x) => round(x, 2)),
          live: {
            commands_per_s: rate,
            seconds,
            delivered_with_latency: latencies.length,
            append_call_to_delivered_ms: {
              p50: round(percentile(latencies, 50), 2),
              p99: round(percentile(latencies, 99), 2),
              max: round(latencies.at(-1) ?? 0, 2),
            },
            append_acked_to_delivered_ms: {
              p50: round(percentile(afterAck, 50), 2),
              p99: round(percentile(afterAck, 99), 2),
            },
            append_ms: {
              p50: round(
                percentile(
                  appendMs.sort((a, b) => a - b),
                  50,
                ),
                2,
              ),
              p99: round(percentile(appendMs, 99), 2),
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
