// EventEnvelope codec benchmark (after build: `pnpm --filter @orderly/event-bus bench:codec`). Prints one JSON object.
// Per operation, CPU µs per envelope of the hand-written writer (RecordedEvent and stored-text paths) and reader, with
// protobuf-es's reflective `toBinary`/`fromBinary` measured in the same rounds as the baseline (ratio = reference µs /
// ours). With BENCH_BEFORE=<dist dir of another checkout's @orderly/event-bus>, the same operations of that build run
// interleaved with this one's, round by round, for a before/after in one process.
// The figure of each is its fastest round (on a shared machine the slower rounds measure the neighbours), the median
// is printed beside it. Env: BENCH_ROUNDS (20), BENCH_EVENTS (20000 per round).
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";

const rounds = Number(process.env.BENCH_ROUNDS ?? 20);
const perRound = Number(process.env.BENCH_EVENTS ?? 20_000);

// A build's public entry with its reference codec (`./testing`; older builds exported it from the entry itself).
async function load(dist) {
  const entry = await import(pathToFileURL(`${dist}/index.js`).href);
  const testing = await import(pathToFileURL(`${dist}/testing.js`).href).catch(() => ({}));
  return { ...entry, ...testing };
}
const builds = { after: await load(new URL("../dist", import.meta.url).pathname) };
if (process.env.BENCH_BEFORE) builds.before = await load(process.env.BENCH_BEFORE);

// A realistic mix: 40% OrderPlaced with 1–3 items, the rest payments, shipments and cancellations.
const events = [];
for (let i = 0; i < 1000; i++) {
  const orderId = randomUUID();
  const r = i % 10;
  const data =
    r < 4
      ? {
          orderId,
          customerId: `customer-${i % 997}`,
          currency: "EUR",
          items: Array.from({ length: 1 + (i % 3) }, (_, k) => ({
            sku: `SKU-${k}`,
            quantity: 1 + k,
            unitPriceMinor: 1250,
          })),
          totalMinor: 3750,
        }
      : r < 7
        ? { amountMinor: 3750, paymentReference: `pay-${i}` }
        : r < 9
          ? { carrier: "DHL", trackingNumber: `00340434161094${i}` }
          : { reason: "customer changed their mind" };
  const type = r < 4 ? "OrderPlaced" : r < 7 ? "PaymentReceived" : r < 9 ? "OrderShipped" : "OrderCancelled";
  const commandId = randomUUID();
  events.push({
    type,
    data,
    streamId: `order-${orderId}`,
    streamVersion: 1 + (i % 5),
    position: 1_000_000 + i,
    metadata: {
      eventId: randomUUID(),
      commandId,
      correlationId: randomUUID(),
      causationId: commandId,
      occurredAt: new Date(1_796_637_600_000 + i),
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      actor: "svc-checkout",
    },
    committedAt: new Date(1_796_637_600_500 + i),
  });
}
const stored = events.map((e) => ({
  position: String(e.position),
  eventId: e.metadata.eventId,
  streamId: e.streamId,
  streamVersion: String(e.streamVersion),
  type: e.type,
  data: JSON.stringify(e.data),
  commandId: e.metadata.commandId,
  correlationId: e.metadata.correlationId,
  causationId: e.metadata.causationId,
  traceparent: e.metadata.traceparent,
  actor: e.metadata.actor,
  schemaVersion: 1,
  occurredAtMs: String(e.metadata.occurredAt.getTime()),
  committedAtMs: String(e.committedAt.getTime()),
}));
const bytes = events.map((e) => builds.after.encodeEnvelopeReflective(e));

const operations = {
  encode: (b, i) => b.encodeEnvelope(events[i % 1000]),
  encodeStored: (b, i) => (b.encodeStoredEnvelopeOpen ?? b.encodeStoredEnvelope)(stored[i % 1000]),
  decode: (b, i) => b.decodeEnvelope(bytes[i % 1000]),
  encodeReflective: (b, i) => b.encodeEnvelopeReflective(events[i % 1000]),
  decodeReflective: (b, i) => b.decodeEnvelopeReflective(bytes[i % 1000]),
};

function time(fn, build) {
  let sink = 0;
  // CPU time, not wall time: on a shared machine the wall clock also counts the time spent waiting for a core.
  const start = process.cpuUsage();
  for (let i = 0; i < perRound; i++) sink += fn(build, i) ? 1 : 0;
  const used = process.cpuUsage(start);
  if (sink < 0) console.log(sink);
  return (used.user + used.system) / perRound;
}

const samples = {};
for (let round = -1; round < rounds; round++) {
  for (const [name, fn] of Object.entries(operations)) {
    // Which build goes first alternates by round: the first of a pair pays for the garbage the previous one left.
    const order = round % 2 === 0 ? Object.entries(builds) : Object.entries(builds).reverse();
    for (const [label, build] of order) {
      const us = time(fn, build);
      if (round < 0) continue; // warm-up
      const key = `${label}.${name}`;
      if (!samples[key]) samples[key] = [];
      samples[key].push(us);
    }
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fixed = (pick) => Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Number(pick(v).toFixed(3))]));
const us = fixed((v) => Math.min(...v));
const result = {
  machine: { loadavg: loadavg() },
  rounds,
  eventsPerRound: perRound,
  minMicrosPerEnvelope: us,
  medianMicrosPerEnvelope: fixed(median),
};
result.ratioVsReflective = {};
for (const label of Object.keys(builds)) {
  result.ratioVsReflective[label] = {
    encode: Number((us[`${label}.encodeReflective`] / us[`${label}.encode`]).toFixed(2)),
    decode: Number((us[`${label}.decodeReflective`] / us[`${label}.decode`]).toFixed(2)),
  };
}
if (builds.before) {
  result.afterOverBefore = {};
  for (const name of ["encode", "encodeStored", "decode"]) {
    result.afterOverBefore[name] = Number((us[`after.${name}`] / us[`before.${name}`]).toFixed(3));
  }
}
console.log(JSON.stringify(result));
