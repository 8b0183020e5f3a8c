import { fromBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  CancelOrderRequestSchema,
  CreateOrderRequestSchema,
  ShipOrderRequestSchema,
  UpdatePaymentStatusRequestSchema,
} from "@orderly/contracts";
import { headers as busHeaders, streamName } from "@orderly/event-bus";
import { PostgresEventLog } from "@orderly/event-store-postgres";
import type { CallOutcome } from "@orderly/loadtest";
import { createRedisClient } from "@orderly/observability";
import {
  canonicalSummary,
  customerOrdersKeys,
  listMember,
  MIN_CHECKPOINT_SQL,
  ORDER_SUMMARIES,
  type OrderSummaryView,
  RedisCheckpointReader,
  rowToSummary,
} from "@orderly/order-read-models";
import { foldEventLog, readGeneration, readLists } from "@orderly/order-read-models/testing";
import pg from "pg";

// The fault suite's checker. Every command the load generator sent is classified against the event store:
//   ok       the client's answer holds: an accepted command's event is in the store at the position the reply gave
//            (same order, same stream version); a refused one took no effect;
//   lost     the client was told one thing and the store says another (accepted but absent, refused but applied);
//   unknown  the client saw no definite answer (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, ...): either outcome is
//            allowed, and whether it took effect is reported when the store can tell (its idempotency row).
// Every read-model row (Postgres order_summaries, Redis customer_orders hash + list entry) is classified against a
// fresh fold of the store:
//   right    equal to the fold;  missing  in the fold but absent, or behind it (lower version);
//   phantom  absent from the fold, or ahead of it / different from it (it shows an event the store does not hold).
// The stream is checked too: the store's event (same id) at every position, once, in order, and nothing else.

const DEFINITE_REFUSALS = new Set([3, 5, 6, 9, 10]); // INVALID_ARGUMENT NOT_FOUND ALREADY_EXISTS FAILED_PRECONDITION ABORTED

export interface CommandRecord {
  readonly kind: string;
  readonly method: string;
  readonly key: string;
  readonly orderId: string;
  readonly code: number;
  readonly details: string;
  readonly accepted: { position: number; streamVersion: number; duplicate: boolean } | undefined;
  /** Wall-clock ms (Date.now()) when sent and when the answer came. */
  readonly sentAt: number;
  readonly settledAt: number;
}

/** Collects the generator's outcomes (pass `record` as `onReply`). */
export class CommandLog {
  readonly records: CommandRecord[] = [];
  /** performance.now() → Date.now() */
  private readonly offset = Date.now() - performance.now();

  readonly record = (outcome: CallOutcome): void => {
    const { key, orderId } = decodeRequest(outcome.call.method, outcome.call.bytes);
    this.records.push({
      kind: outcome.call.kind,
      method: outcome.call.method,
      key,
      orderId,
      code: outcome.code,
      details: outcome.details,
      accepted: outcome.accepted ? { ...outcome.accepted } : undefined,
      sentAt: outcome.startedAt + this.offset,
      settledAt: outcome.settledAt + this.offset,
    });
  };
}

/** Each command's request decoder: every request carries the idempotency key and the order id. */
const requestDecoders = new Map<string, (bytes: Uint8Array) => { idempotencyKey: string; orderId: string }>([
  ["CreateOrder", (bytes) => fromBinary(CreateOrderRequestSchema, bytes)],
  ["UpdatePaymentStatus", (bytes) => fromBinary(UpdatePaymentStatusRequestSchema, bytes)],
  ["ShipOrder", (bytes) => fromBinary(ShipOrderRequestSchema, bytes)],
  ["CancelOrder", (bytes) => fromBinary(CancelOrderRequestSchema, bytes)],
]);

function decodeRequest(method: string, bytes: Uint8Array): { key: string; orderId: string } {
  const decode = requestDecoders.get(method);
  if (!decode) throw new Error(`unknown method ${method}`);
  const r = decode(bytes);
  return { key: r.idempotencyKey, orderId: r.orderId };
}

export type CommandClass = "ok" | "lost" | "unknown";

export interface CommandVerdict {
  readonly record: CommandRecord;
  readonly verdict: CommandClass;
  readonly reason: string;
  /** For unknown ones: whether the store holds the command's idempotency row (undefined: cannot tell). */
  readonly applied?: boolean;
}

export interface CommandReport {
  readonly total: number;
  /** Answered OK (fresh or duplicate). */
  readonly accepted: number;
  readonly ok: number;
  readonly lost: number;
  readonly unknown: number;
  readonly unknownApplied: number;
  readonly verdicts: CommandVerdict[];
}

export async function checkCommands(databaseUrl: string, records: readonly CommandRecord[]): Promise<CommandReport> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const positions = records.flatMap((r) => (r.code === 0 && r.accepted ? [r.accepted.position] : []));
    const events = new Map<number, { streamId: string; version: number }>();
    for (const row of (
      await client.query<{ position: string; stream_id: string; stream_version: string }>(
        "select position::text, stream_id, stream_version::text from events where position = any($1::bigint[])",
        [positions],
      )
    ).rows) {
      events.set(Number(row.position), { streamId: row.stream_id, version: Number(row.stream_version) });
    }
    const keys = records.map((r) => r.key);
    const stored = new Set(
      (
        await client.query<{ idempotency_key: string }>(
          "select idempotency_key from processed_commands where idempotency_key = any($1::text[])",
          [keys],
        )
      ).rows.map((r) => r.idempotency_key),
    );
    const verdicts: CommandVerdict[] = records.map((record) => {
      if (record.code === 0) {
        const a = record.accepted;
        if (!a) return { record, verdict: "lost", reason: "OK without an accepted reply" };
        const event = events.get(a.position);
        if (!event) return { record, verdict: "lost", reason: `no event at position ${a.position}` };
        if (event.streamId !== `order-${record.orderId}` || event.version !== a.streamVersion) {
          return {
            record,
            verdict: "lost",
            reason: `position ${a.position} holds ${event.streamId} v${event.version}, not order-${record.orderId} v${a.streamVersion}`,
          };
        }
        return { record, verdict: "ok", reason: "accepted and stored" };
      }
      if (DEFINITE_REFUSALS.has(record.code)) {
        // A refused replay carries the key of an earlier, accepted request: its row is that one's.
        if (record.kind !== "duplicate" && stored.has(record.key)) {
          return { record, verdict: "lost", reason: `refused (code ${record.code}) but applied` };
        }
        return { record, verdict: "ok", reason: `refused (code ${record.code}), no effect` };
      }
      return {
        record,
        verdict: "unknown",
        reason: `no definite answer (code ${record.code}: ${record.details.slice(0, 120)})`,
        applied: stored.has(record.key),
      };
    });
    const count = (c: CommandClass) => verdicts.filter((v) => v.verdict === c).length;
    return {
      total: records.length,
      accepted: records.filter((r) => r.code === 0).length,
      ok: count("ok"),
      lost: count("lost"),
      unknown: count("unknown"),
      unknownApplied: verdicts.filter((v) => v.verdict === "unknown" && v.applied).length,
      verdicts,
    };
  } finally {
    await client.end();
  }
}

// ---- read models ---------------------------------------------------------------------------------------------------

export type RowClass = "right" | "phantom" | "missing";

export interface RowDifference {
  readonly model: "order_summaries" | "customer_orders";
  readonly orderId: string;
  readonly verdict: Exclude<RowClass, "right">;
  readonly reason: string;
}

export interface ReadModelReport {
  readonly storeHead: number;
  readonly orders: number;
  readonly postgres: { right: number; phantom: number; missing: number };
  readonly redis: { right: number; phantom: number; missing: number };
  readonly differences: RowDifference[];
}

/** REDIS_URL's server, or its Redis Cluster when it lists several nodes (as the services read it). */
function redisClient(redisUrl: string, maxRetriesPerRequest: number) {
  return createRedisClient(redisUrl, redisUrl.includes(",") ? { cluster: true } : {}, { maxRetriesPerRequest });
}

/** The store folded afresh, and both read models compared with it row by row. */
export async function checkReadModels(
  databaseUrl: string,
  redisUrl: string,
  namespace: string,
): Promise<ReadModelReport> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const redis = redisClient(redisUrl, 3);
  try {
    const eventLog = new PostgresEventLog(pool);
    const head = await eventLog.headPosition();
    const fold = await foldEventLog(eventLog, head);
    const differences: RowDifference[] = [];

    const pgRows = new Map<string, OrderSummaryView>();
    for (const row of (await pool.query("select * from order_summaries")).rows) {
      const summary = rowToSummary(row);
      pgRows.set(summary.orderId, summary);
    }
    const postgres = compare("order_summaries", fold, pgRows, differences);

    const keys = customerOrdersKeys(namespace);
    const generation = await redis.get(keys.current);
    const hashes = generation ? await readGeneration(redis, keys.generation(generation)) : new Map();
    const lists = generation ? await readLists(redis, keys.generation(generation)) : new Map();
    // A Redis row is the hash and its list entry: both must be there and agree with the fold.
    const redisRows = new Map<string, OrderSummaryView>();
    for (const [orderId, summary] of hashes) {
      const listed = lists.get(orderId);
      if (!listed) continue; // absent from its customer's list: counted as missing (or phantom) below
      if (listed.count !== 1 || listed.customerId !== summary.customerId || listed.member !== listMember(summary)) {
        differences.push({
          model: "customer_orders",
          orderId,
          verdict: "phantom",
          reason: `listed ${listed.count}× under ${listed.customerId} as ${listed.member}`,
        });
      }
      redisRows.set(orderId, summary);
    }
    for (const orderId of lists.keys()) {
      if (!hashes.has(orderId)) {
        differences.push({ model: "customer_orders", orderId, verdict: "phantom", reason: "listed without a hash" });
      }
    }
    for (const orderId of hashes.keys()) {
      if (!lists.has(orderId) && !fold.has(orderId)) redisRows.set(orderId, hashes.get(orderId) as OrderSummaryView);
    }
    const redisCounts = compare("customer_orders", fold, redisRows, differences);
    return { storeHead: head, orders: fold.size, postgres, redis: redisCounts, differences };
  } finally {
    redis.disconnect();
    await pool.end();
  }
}

function compare(
  model: RowDifference["model"],
  fold: Map<string, OrderSummaryView>,
  rows: Map<string, OrderSummaryView>,
  differences: RowDifference[],
): { right: number; phantom: number; missing: number } {
  const counts = { right: 0, phantom: 0, missing: 0 };
  for (const [orderId, expected] of fold) {
    const actual = rows.get(orderId);
    if (!actual) {
      counts.missing++;
      differences.push({ model, orderId, verdict: "missing", reason: `absent (store v${expected.version})` });
    } else if (canonicalSummary(actual) === canonicalSummary(expected)) {
      counts.right++;
    } else if (actual.version < expected.version) {
      counts.missing++;
      differences.push({
        model,
        orderId,
        verdict: "missing",
        reason: `v${actual.version} < store v${expected.version}`,
      });
    } else {
      counts.phantom++;
      differences.push({
        model,
        orderId,
        verdict: "phantom",
        reason: `differs from the store's fold: ${canonicalSummary(actual)} vs ${canonicalSummary(expected)}`,
      });
    }
  }
  for (const orderId of rows.keys()) {
    if (!fold.has(orderId)) {
      counts.phantom++;
      differences.push({ model, orderId, verdict: "phantom", reason: "no such order in the store" });
    }
  }
  return counts;
}

/** Both read models' checkpoints and the store head, for waiting until they caught up. */
export async function positions(
  databaseUrl: string,
  redisUrl: string,
  namespace: string,
): Promise<{ head: number; postgres: number; redis: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  const redis = redisClient(redisUrl, 1);
  await client.connect();
  try {
    // The last event, not the counter: after a recovery retired positions past it, the counter points at positions
    // that never hold an event (ADR 0011).
    const head = Number(
      (await client.query("select coalesce(max(position), 0) as last from events")).rows[0]?.last ?? 0,
    );
    // A partitioned read model's position is its lowest partition's (ADR 0019): what the query service waits for.
    const postgres = Number((await client.query(MIN_CHECKPOINT_SQL, [ORDER_SUMMARIES])).rows[0]?.position ?? 0);
    const redisCheckpoint = await new RedisCheckpointReader(redis, namespace).checkpoint();
    return { head, postgres, redis: redisCheckpoint };
  } finally {
    redis.disconnect();
    await client.end();
  }
}

// ---- the stream ----------------------------------------------------------------------------------------------------

export interface StreamReport {
  readonly messages: number;
  readonly storeHead: number;
  /** Positions where the stream's event is not the store's (other id, or a position the store does not hold). */
  readonly mismatched: number;
  /** Store positions the stream does not hold. */
  readonly missing: number;
  /** Positions the stream holds twice, or out of order. */
  readonly duplicatedOrUnordered: number;
  readonly examples: string[];
}

export async function checkStream(databaseUrl: string, natsUrl: string, namespace: string): Promise<StreamReport> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const nc = await connect({ servers: natsUrl.split(",") });
  try {
    const store = new Map<number, string>();
    for (const row of (
      await client.query<{ position: string; event_id: string }>(
        "select position::text, event_id::text from events order by position",
      )
    ).rows) {
      store.set(Number(row.position), row.event_id);
    }
    const storeHead = Number((await client.query("select last from global_position where id = 1")).rows[0]?.last ?? 0);
    const stream = streamName(namespace);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const examples: string[] = [];
    let mismatched = 0;
    let duplicatedOrUnordered = 0;
    let last = 0;
    const seen = new Set<number>();
    let messages = 0;
    if (info.state.messages > 0) {
      const consumer = await jetstream(nc).consumers.get(stream); // ordered, ephemeral
      const iterator = await consumer.fetch({ max_messages: info.state.messages, expires: 10_000 });
      for await (const m of iterator) {
        messages++;
        const position = Number(m.headers?.get(busHeaders.position));
        const eventId = m.headers?.get(busHeaders.msgId);
        if (position <= last || seen.has(position)) {
          duplicatedOrUnordered++;
          if (examples.length < 10) examples.push(`position ${position} after ${last} (seq ${m.seq})`);
        }
        seen.add(position);
        last = Math.max(last, position);
        if (store.get(position) !== eventId) {
          mismatched++;
          if (examples.length < 10) {
            examples.push(`position ${position}: stream ${eventId}, store ${store.get(position) ?? "(none)"}`);
          }
        }
        if (messages >= info.state.messages) break;
      }
    }
    let missing = 0;
    for (const position of store.keys()) if (!seen.has(position)) missing++;
    return { messages, storeHead, mismatched, missing, duplicatedOrUnordered, examples };
  } finally {
    await nc.close();
    await client.end();
  }
}
