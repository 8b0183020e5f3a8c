// Projection throughput. Run after `pnpm build`: `pnpm --filter @orderly/order-read-models bench`
// (env: BENCH_EVENTS=100000, BENCH_BATCHES=100,500 (live batch sizes to measure)).
//
// 1. Live: each projection drains a backlog of BENCH_EVENTS envelopes from a JetStream durable consumer (the real
//    Projector: decode, checkpoint filter, fold, atomic batch + checkpoint + announcement, ack). Baseline in the same
//    run: the same rows, in the same batches, written with no bus and no fold — a plain multi-row
//    INSERT ... ON CONFLICT DO UPDATE per batch (Postgres) / a pipeline of HSET + ZADD + SET per batch (Redis).
//    Each live drain runs twice, without and with the continuity check (one look-up of the batch's last event in the
//    store per batch, as the projector processes run it): `*_checked_ratio` = checked rate / unchecked rate.
// The rebuild has its own benchmark on a larger log (rebuild-bench.mjs); `bench/run.mjs` runs both.
// Prints one JSON object.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { encodeEnvelope, ensureOrdersStream, headers, streamName, subjectFor } from "@orderly/event-bus";
import { PostgresEventLog, PostgresEventStore, StoreContinuity } from "@orderly/event-store-postgres";
import {
  CustomerOrdersProjection,
  customerOrdersKeys,
  foldBatch,
  generationKeys,
  listMember,
  OrderSummariesProjection,
} from "@orderly/order-read-models";
import { appendHistories, dropCustomerOrders, generateOrderHistories } from "@orderly/order-read-models/testing";
import { Projector } from "@orderly/projector";
import { benchLog, openBenchStores } from "./harness.mjs";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const BATCHES = (process.env.BENCH_BATCHES ?? "100,500").split(",").map(Number);

const { env, pool, redis, close } = await openBenchStores(8);
const nc = await connect({ servers: env.natsUrl, noAsyncTraces: true });
const log = benchLog("projection-bench");

try {
  const store = new PostgresEventStore(pool);
  const eventLog = new PostgresEventLog(pool);
  const jsm = await jetstreamManager(nc);
  await ensureOrdersStream(jsm, env.namespace);
  const js = jetstream(nc);
  const stream = streamName(env.namespace);

  log(`appending ${EVENTS} events`);
  const head = await appendHistories(store, generateOrderHistories(EVENTS, 42), 512);
  const events = [];
  for (let at = 0; at < head; ) {
    const page = await store.readAll(at, 10_000);
    events.push(...page);
    at = page[page.length - 1].position;
  }
  log(`publishing ${events.length} envelopes to ${stream}`);
  for (let i = 0; i < events.length; i += 1000) {
    await Promise.all(
      events.slice(i, i + 1000).map((e) => {
        const h = natsHeaders();
        h.set(headers.position, String(e.position));
        h.set(headers.committedAt, String(e.committedAt.getTime()));
        return js.publish(subjectFor(env.namespace, e.type), encodeEnvelope(e), {
          msgID: e.metadata.eventId,
          headers: h,
        });
      }),
    );
  }

  const resetPostgres = async () => {
    await pool.query("truncate order_summaries");
    await pool.query("delete from projection_checkpoints");
  };
  const { decodeEnvelope: decode } = await import("@orderly/event-bus");

  const live = {};
  for (const batchSize of BATCHES) {
    // The rows each projection writes per batch (what the baseline writes too).
    const batches = [];
    const state = new Map();
    for (let i = 0; i < events.length; i += batchSize) {
      const changed = foldBatch(state, events.slice(i, i + batchSize));
      for (const [id, s] of changed) state.set(id, s);
      batches.push({ rows: [...changed.values()], last: events[Math.min(i + batchSize, events.length) - 1].position });
    }

    // The read model's own key names (hash-tagged since issue 17: a copy of the prefix left the checkpoint behind, and
    // every Redis drain after the first measured an already caught-up projector, ~900k events/s): the live generation
    // through its index, the baseline's by the names it writes; never a SCAN of the shared Redis.
    const baselineKeys = generationKeys(customerOrdersKeys(env.namespace).generation("bench"));
    const resetRedis = async () => {
      await dropCustomerOrders(redis, env.namespace);
      const names = [baselineKeys.checkpoint];
      for (const s of state.values()) names.push(baselineKeys.order(s.orderId), baselineKeys.customer(s.customerId));
      for (let i = 0; i < names.length; i += 5000) await redis.unlink(...names.slice(i, i + 5000));
    };

    const batchStats = {};
    async function drain(projection, consumer, checked = false) {
      const projector = new Projector({
        projection,
        eventLog,
        ...(checked ? { continuity: new StoreContinuity(pool) } : {}),
        batchSize: batchSize,
        source: { js, jsm, stream, consumer, decode: (d, h) => decode(d, h), maxAckPending: 4 * batchSize + 1000 },
      });
      const started = performance.now();
      await projector.start();
      while (projector.status().checkpoint < head) await new Promise((r) => setTimeout(r, 2));
      const seconds = (performance.now() - started) / 1000;
      await projector.stop();
      await jsm.consumers.delete(stream, consumer);
      const sum = async (name) => {
        const values = (await projector.registry.getSingleMetric(name).get()).values;
        const of = (suffix) => values.find((v) => v.metricName === `${name}${suffix}`)?.value ?? 0;
        return { count: of("_count"), sum: of("_sum") };
      };
      const size = await sum("projection_batch_size_events");
      const duration = await sum("projection_batch_duration_seconds");
      batchStats[projection.name] = {
        batches: size.count,
        mean_batch_events: Number((size.sum / Math.max(1, size.count)).toFixed(1)),
        mean_batch_ms: Number(((duration.sum * 1000) / Math.max(1, duration.count)).toFixed(2)),
      };
      return seconds;
    }

    const columns =
      "order_id, customer_id, status, payment_status, currency, total_minor, paid_minor, item_count, version, created_at, updated_at, last_position, placed_position";
    async function baselinePostgres() {
      const started = performance.now();
      for (const batch of batches) {
        const values = [];
        const params = [];
        for (const r of batch.rows) {
          const base = params.length;
          values.push(`(${Array.from({ length: 13 }, (_, k) => `$${base + k + 1}`).join(", ")})`);
          params.push(
            r.orderId,
            r.customerId,
            r.status,
            r.paymentStatus,
            r.currency,
            r.totalMinor,
            r.paidMinor,
            r.itemCount,
            r.version,
            r.createdAt,
            r.updatedAt,
            r.lastPosition,
            r.placedPosition,
          );
        }
        await pool.query(
          `insert into order_summaries (${columns}) values ${values.join(", ")}
           on conflict (order_id) do update set status = excluded.status, payment_status = excluded.payment_status,
             paid_minor = excluded.paid_minor, version = excluded.version, updated_at = excluded.updated_at,
             last_position = excluded.last_position`,
          params,
        );
      }
      return (performance.now() - started) / 1000;
    }

    async function baselineRedis() {
      const keys = customerOrdersKeys(env.namespace);
      const g = keys.generation("bench");
      const started = performance.now();
      for (const batch of batches) {
        const p = redis.pipeline();
        for (const s of batch.rows) {
          p.hset(`${g}:o:${s.orderId}`, {
            c: s.customerId,
            s: s.status,
            p: s.paymentStatus,
            cur: s.currency,
            t: s.totalMinor,
            pd: s.paidMinor,
            n: s.itemCount,
            v: s.version,
            ca: s.createdAt.getTime(),
            ua: s.updatedAt.getTime(),
            lp: s.lastPosition,
            pp: s.placedPosition,
          });
          p.zadd(`${g}:c:${s.customerId}`, 0, listMember(s));
        }
        p.set(`${g}:checkpoint`, batch.last);
        await p.exec();
      }
      return (performance.now() - started) / 1000;
    }

    log("postgres: live drain");
    await resetPostgres();
    const pgLive = await drain(new OrderSummariesProjection(pool), `${env.namespace}_bench_pg_${batchSize}`);
    await resetPostgres();
    log("postgres: live drain, checked");
    const pgChecked = await drain(new OrderSummariesProjection(pool), `${env.namespace}_bench_pgc_${batchSize}`, true);
    await resetPostgres();
    log("postgres: baseline");
    const pgBase = await baselinePostgres();

    log("redis: live drain");
    await resetRedis();
    const redisLive = await drain(
      new CustomerOrdersProjection(redis, { namespace: env.namespace }),
      `${env.namespace}_bench_redis_${batchSize}`,
    );
    await resetRedis();
    log("redis: live drain, checked");
    const redisChecked = await drain(
      new CustomerOrdersProjection(redis, { namespace: env.namespace }),
      `${env.namespace}_bench_redisc_${batchSize}`,
      true,
    );
    await resetRedis();
    log("redis: baseline");
    const redisBase = await baselineRedis();
    await resetRedis();

    const rate = (seconds) => Math.round(events.length / seconds);
    live[`batch_${batchSize}`] = {
      postgres_live_events_per_s: rate(pgLive),
      postgres_baseline_events_per_s: rate(pgBase),
      postgres_live_ratio: Number((pgBase / pgLive).toFixed(3)),
      postgres_checked_events_per_s: rate(pgChecked),
      postgres_checked_ratio: Number((pgLive / pgChecked).toFixed(3)),
      redis_live_events_per_s: rate(redisLive),
      redis_baseline_events_per_s: rate(redisBase),
      redis_live_ratio: Number((redisBase / redisLive).toFixed(3)),
      redis_checked_events_per_s: rate(redisChecked),
      redis_checked_ratio: Number((redisLive / redisChecked).toFixed(3)),
      batches: { ...batchStats },
    };
  }

  console.log(
    JSON.stringify({
      benchmark: "projection",
      events: events.length,
      live,
      goals: { live_ratio: 0.5 },
    }),
  );
} finally {
  await nc.close();
  await close();
}
