// Outbox relay benchmark (run after build: `pnpm --filter @orderly/outbox-relay bench`). Prints one JSON object.
//  1. Backlog drain: 100,000 committed events, relay throughput (events/s) vs. the NATS ceiling = the same envelopes
//     published by a plain loop with the same technique (core publish + own ack matching, same batch and window,
//     same headers), no Postgres in the path. Ceiling measured before and after the relay; ratio to their mean.
//  2. Commit -> JetStream-ack latency under a steady 1,000 appends/s (one event each, group-committed store).
// Env: BENCH_BACKLOG (100000), BENCH_RATE (1000), BENCH_SECONDS (10), RELAY_BATCH_SIZE (1000), RELAY_MAX_IN_FLIGHT (4096).
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ordersBus } from "@orderly/event-bus";
import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import { createTestEnvironment } from "@orderly/testing";
import { JetStreamPublisher, OutboxRelay, renderHeaders } from "../dist/index.js";
import { orderPlacedRequest, silentLogger } from "../dist/testing.js";

const backlog = Number(process.env.BENCH_BACKLOG ?? 100_000);
const rate = Number(process.env.BENCH_RATE ?? 1_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const batchSize = Number(process.env.RELAY_BATCH_SIZE ?? 1_000);
const maxInFlight = Number(process.env.RELAY_MAX_IN_FLIGHT ?? 4_096);

const env = await createTestEnvironment();
const pool = createPool(env.databaseUrl, { max: 8 });
const nc = await connect({ servers: env.natsUrl, noAsyncTraces: true });
const result = {
  machine: { cpus: (await import("node:os")).cpus().length, loadavg: (await import("node:os")).loadavg() },
};
try {
  await migrateEventStore(pool);
  const bus = ordersBus(env.namespace);
  const jsm = await jetstreamManager(nc);
  await bus.ensureStream(jsm);

  // --- 1. backlog -------------------------------------------------------------------------------------------------
  await pool.query(
    `insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id, correlation_id,
       causation_id, traceparent, occurred_at)
     select g, gen_random_uuid(), 'order-' || x.u, 1, 'OrderPlaced',
       jsonb_build_object('orderId', x.u, 'customerId', 'customer-' || (g % 1000), 'currency', 'EUR',
         'items', jsonb_build_array(jsonb_build_object('sku', 'SKU-1', 'quantity', 2, 'unitPriceMinor', 1250)),
         'totalMinor', 2500),
       x.c, x.c, x.c, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', now()
     from generate_series(1, $1::bigint) g, lateral (select gen_random_uuid() u, gen_random_uuid() c where g > 0) x`,
    [backlog],
  );
  await pool.query("update global_position set last = $1", [backlog]);
  await pool.query("vacuum analyze events");

  // The ceiling's input: the very envelopes the relay will send, encoded in advance.
  const store = new PostgresEventStore(pool);
  const envelopes = [];
  for (let after = 0; after < backlog; after += 10_000) {
    for (const event of await store.readAll(after, 10_000)) {
      envelopes.push({ event, subject: bus.subject(event.type), data: bus.encode(event) });
    }
  }

  const ceiling = async (label) => {
    const info = await jsm.streams.info(bus.stream);
    let expected = info.state.last_seq;
    const publisher = new JetStreamPublisher(nc);
    const inflight = [];
    let pending = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < envelopes.length; i += batchSize) {
      while (pending + batchSize > maxInFlight && inflight.length > 0) {
        const oldest = inflight.shift();
        await oldest.done;
        if (oldest.error) throw oldest.error;
        pending -= oldest.count;
      }
      const slice = envelopes.slice(i, i + batchSize);
      const messages = slice.map((e, j) => {
        const entries = [
          ["Nats-Msg-Id", `${label}-${e.event.metadata.eventId}`],
          ["Orderly-Position", String(e.event.position)],
          ["Orderly-Stream", e.event.streamId],
          ["Orderly-Type", e.event.type],
          ["Orderly-Committed-At", String(e.event.committedAt.getTime())],
        ];
        if (e.event.metadata.traceparent) entries.push(["traceparent", e.event.metadata.traceparent]);
        entries.push(["Nats-Expected-Last-Sequence", String(expected + j)]);
        return { subject: e.subject, data: e.data, headers: renderHeaders(entries) };
      });
      expected += slice.length;
      inflight.push(publisher.publish(messages, 30_000));
      pending += slice.length;
    }
    for (const batch of inflight) {
      await batch.done;
      if (batch.error) throw batch.error;
    }
    const elapsed = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    publisher.close();
    return { rate: Math.round(envelopes.length / elapsed), cpuUs: (used.user + used.system) / envelopes.length };
  };

  const ceilingBefore = await ceiling("ceiling-1");
  // The relay publishes into the same stream after the ceiling's messages (its chain starts at the stream's last seq).
  await jsm.streams.purge(bus.stream);
  let drained;
  const relayDone = new Promise((resolve) => {
    drained = resolve;
  });
  const relay = new OutboxRelay({
    databaseUrl: env.databaseUrl,
    natsUrl: env.natsUrl,
    bus,
    logger: silentLogger,
    name: "bench-drain",
    batchSize,
    maxInFlight,
    onAcked: (batch) => {
      if (batch.lastPosition >= backlog) drained(performance.now());
    },
  });
  const relayCpu = process.cpuUsage();
  const relayStarted = performance.now();
  relay.start();
  // Start-up (NATS connect, lock, reconcile with the stream) is reported apart from the drain itself.
  while (!relay.ready) await new Promise((r) => setImmediate(r));
  const relayReady = performance.now();
  const relayFinished = await relayDone;
  const relayUsed = process.cpuUsage(relayCpu);
  await relay.stop();
  const relayRate = Math.round(backlog / ((relayFinished - relayReady) / 1000));
  const relayRateWithStartup = Math.round(backlog / ((relayFinished - relayStarted) / 1000));
  const ceilingAfter = await ceiling("ceiling-2");
  const ceilingMean = (ceilingBefore.rate + ceilingAfter.rate) / 2;
  const relayCpuUs = (relayUsed.user + relayUsed.system) / backlog;
  const ceilingCpuUs = (ceilingBefore.cpuUs + ceilingAfter.cpuUs) / 2;
  result.backlogDrain = {
    events: backlog,
    batchSize,
    maxInFlight,
    relayEventsPerSec: relayRate,
    relayEventsPerSecIncludingStartup: relayRateWithStartup,
    relayStartupMs: Math.round(relayReady - relayStarted),
    natsCeilingEventsPerSec: [ceilingBefore.rate, ceilingAfter.rate],
    ratio: Number((relayRate / ceilingMean).toFixed(3)),
    goal: 0.7,
    // CPU of this Node process per event (load-independent-ish): what the relay adds to a bare publish loop.
    cpuMicrosPerEvent: { relay: Number(relayCpuUs.toFixed(2)), ceiling: Number(ceilingCpuUs.toFixed(2)) },
  };

  // --- 2. latency under a steady append rate ----------------------------------------------------------------------
  await jsm.streams.purge(bus.stream);
  await pool.query("insert into relay_checkpoints (name, position) values ('bench-latency', $1)", [backlog]);
  const committedAt = new Map(); // position -> when the appender saw the commit
  const ackedAt = new Map(); // position -> when the relay saw the JetStream ack
  const fromCommittedAt = [];
  const latencyRelay = new OutboxRelay({
    databaseUrl: env.databaseUrl,
    natsUrl: env.natsUrl,
    bus,
    logger: silentLogger,
    name: "bench-latency",
    batchSize,
    maxInFlight,
    onAcked: (batch) => {
      for (let i = 0; i < batch.committedAtMs.length; i++) {
        const position = batch.firstPosition + i;
        ackedAt.set(position, batch.ackedAtMs[i]);
        fromCommittedAt.push(batch.ackedAtMs[i] - batch.committedAtMs[i]);
      }
    },
  });
  latencyRelay.start();
  while (!latencyRelay.ready || latencyRelay.role !== "active") await new Promise((r) => setTimeout(r, 20));
  const appendStore = new PostgresEventStore(pool);
  const now = () => performance.timeOrigin + performance.now();
  const tickMs = 10;
  const perTick = rate / (1000 / tickMs);
  const total = rate * seconds;
  const appends = [];
  const start = performance.now();
  let issued = 0;
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + perTick);
    while (issued < due) {
      issued++;
      appends.push(
        appendStore.append(orderPlacedRequest()).then((outcome) => committedAt.set(outcome.position, now())),
      );
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  await Promise.all(appends);
  const appendSeconds = (performance.now() - start) / 1000;
  const lastPosition = backlog + total;
  const deadline = Date.now() + 30_000;
  while (latencyRelay.ackedPosition < lastPosition && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  await latencyRelay.stop();
  // Skip the first second (connections warming up).
  const warmup = backlog + rate;
  const samples = [];
  for (const [position, commit] of committedAt) {
    const ack = ackedAt.get(position);
    if (position > warmup && ack !== undefined) samples.push(Math.max(0, ack - commit));
  }
  const pct = (values, p) => {
    const sorted = [...values].sort((a, b) => a - b);
    return Number(
      (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN).toFixed(2),
    );
  };
  const fromTxStart = fromCommittedAt.slice(rate);
  result.commitToAck = {
    targetAppendsPerSec: rate,
    achievedAppendsPerSec: Math.round(total / appendSeconds),
    samples: samples.length,
    acked: ackedAt.size,
    p50Ms: pct(samples, 50),
    p90Ms: pct(samples, 90),
    p99Ms: pct(samples, 99),
    maxMs: pct(samples, 100),
    goal: { p50Ms: 5, p99Ms: 20 },
    fromTransactionStart: { p50Ms: pct(fromTxStart, 50), p99Ms: pct(fromTxStart, 99) },
    note: "commit = the appender saw its COMMIT return; ack = the relay received the JetStream ack (same process)",
  };
} finally {
  await nc.close();
  await pool.end();
  await env.cleanup();
}
console.log(JSON.stringify(result));
