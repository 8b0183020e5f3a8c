import { randomUUID } from "node:crypto";
import { type EventMetadata, type EventStore, type RecordedEvent, seededRandom } from "@orderly/eventsourcing";
import type { OrderEvent } from "@orderly/orders-domain";
import type { Redis } from "ioredis";
import { customerOrdersKeys, generationKeys } from "./customer-orders-keys.js";
import { listMember } from "./customer-orders-layout.js";
import { type ListedEntry, readGenerationContents } from "./customer-orders-walk.js";
import type { OrderSummaryView } from "./order-summary.js";

export { dropCustomerOrders } from "./customer-orders-drop.js";
// The checkers tests and benchmarks compare the read models with (the product runs some of them inside).
export {
  auditCustomerOrders,
  auditGeneration,
  type CustomerOrdersAudit,
  checkGeneration,
  checkGenerationCounts,
  type GenerationCheck,
} from "./customer-orders-integrity.js";
export { ORDER_HASH_FIELDS, orderHashValues } from "./customer-orders-layout.js";
export { checksumSummaries, foldEventLog } from "./verification.js";

/** Every listed order hash of a generation (`<prefix>:g<N>`), through its index (customer-orders-walk.ts). */
export async function readGeneration(redis: Redis, g: string): Promise<Map<string, OrderSummaryView>> {
  return (await readGenerationContents(redis, g)).summaries;
}

/** For each order listed in an indexed customer's sorted set: how often, under which customer, with which member. */
export async function readLists(redis: Redis, g: string): Promise<Map<string, ListedEntry>> {
  return (await readGenerationContents(redis, g)).listed;
}

/** One order's events, in stream order (test and benchmark data). */
export interface OrderHistory {
  readonly orderId: string;
  readonly customerId: string;
  readonly events: readonly { readonly event: OrderEvent; readonly metadata: EventMetadata }[];
}

const lifecycles: readonly (readonly OrderEvent["type"][])[] = [
  ["OrderPlaced"],
  ["OrderPlaced", "PaymentReceived"],
  ["OrderPlaced", "PaymentAuthorized", "PaymentReceived", "OrderShipped"],
  ["OrderPlaced", "PaymentFailed", "OrderCancelled"],
  ["OrderPlaced", "PaymentReceived", "PaymentRefunded", "OrderCancelled"],
  ["OrderPlaced", "OrderCancelled"],
  ["OrderPlaced", "PaymentAuthorized", "PaymentReceived", "OrderShipped", "PaymentRefunded"],
];

/**
 * About `targetEvents` events over orders of ~4 events, ~5 orders per customer. Occurred-at times are coarse (whole
 * seconds) so created_at ties are common and the list order must fall back to the position.
 */
export function generateOrderHistories(targetEvents: number, seed = 1): OrderHistory[] {
  const random = seededRandom(seed);
  const histories: OrderHistory[] = [];
  const customers = Math.max(1, Math.round(targetEvents / 20));
  let total = 0;
  const base = Date.UTC(2026, 10, 1);
  while (total < targetEvents) {
    const orderId = randomUUID();
    const customerId = `customer-${Math.floor(random() * customers)}`;
    const shape = lifecycles[Math.floor(random() * lifecycles.length)] ?? ["OrderPlaced"];
    const types = shape.slice(0, Math.max(1, Math.min(shape.length, targetEvents - total)));
    const items = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => ({
      sku: `sku-${i}-${Math.floor(random() * 100)}`,
      quantity: 1 + Math.floor(random() * 5),
      unitPriceMinor: 100 + Math.floor(random() * 10_000),
    }));
    const totalMinor = items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0);
    const placedAt = base + Math.floor(random() * 3_600) * 1000;
    const commandId = randomUUID();
    const events = types.map((type, i) => {
      const metadata: EventMetadata = {
        eventId: randomUUID(),
        commandId,
        correlationId: commandId,
        causationId: commandId,
        occurredAt: new Date(placedAt + i * 1000),
        // Who issued the command (issue 15's audit identity): the read models keep it as placedBy.
        actor: `svc-${customerId.slice(-1)}`,
      };
      const payment = { amountMinor: totalMinor, paymentReference: `pay-${orderId.slice(0, 8)}` };
      let event: OrderEvent;
      switch (type) {
        case "OrderPlaced":
          event = { type, data: { orderId, customerId, currency: "EUR", items, totalMinor } };
          break;
        case "OrderShipped":
          event = { type, data: { carrier: "DHL", trackingNumber: `trk-${i}` } };
          break;
        case "OrderCancelled":
          event = { type, data: { reason: "customer asked" } };
          break;
        default:
          event = { type, data: payment } as OrderEvent;
      }
      return { event, metadata };
    });
    total += events.length;
    histories.push({ orderId, customerId, events });
  }
  return histories;
}

/**
 * Appends the histories interleaved (round k appends the k-th event of every order, concurrently), so streams mix in
 * the global log while each stream stays in order. Returns the head position.
 */
export async function appendHistories(
  store: Pick<EventStore, "append" | "headPosition">,
  histories: readonly OrderHistory[],
  concurrency = 256,
): Promise<number> {
  const rounds = Math.max(0, ...histories.map((h) => h.events.length));
  for (let round = 0; round < rounds; round++) {
    const work = histories.filter((h) => h.events.length > round);
    for (let i = 0; i < work.length; i += concurrency) {
      await Promise.all(
        work.slice(i, i + concurrency).map((h) => {
          const entry = h.events[round];
          if (!entry) return undefined;
          return store.append({
            streamId: `order-${h.orderId}`,
            expectedVersion: round === 0 ? "no_stream" : round,
            events: [entry],
          });
        }),
      );
    }
  }
  return store.headPosition();
}

/**
 * The histories as the store would record them, without a store: interleaved as `appendHistories` appends them, at
 * gapless positions after `from`, committed now.
 */
export function recordHistories(histories: readonly OrderHistory[], from = 0): RecordedEvent<OrderEvent>[] {
  const events: RecordedEvent<OrderEvent>[] = [];
  let position = from;
  const rounds = Math.max(...histories.map((h) => h.events.length));
  for (let round = 0; round < rounds; round++) {
    for (const h of histories) {
      const entry = h.events[round];
      if (!entry) continue;
      events.push({
        type: entry.event.type,
        data: entry.event.data,
        streamId: `order-${h.orderId}`,
        streamVersion: round + 1,
        position: ++position,
        metadata: entry.metadata,
        committedAt: new Date(),
      } as RecordedEvent<OrderEvent>);
    }
  }
  return events;
}

/**
 * Makes Redis lose `customer_orders` keys the way a test needs, deterministically: the names come from the caller's
 * own knowledge of the read model (a fold of the event store), never from a SCAN of a keyspace that other tenants
 * share (a SCAN-driven delete takes many round trips, and the projector sees and repairs a half-deleted state
 * meanwhile). Everything goes in one UNLINK, so the loss is atomic.
 * - `all`: the pointer, the live generation's checkpoint, mark, index, counts, and the lists and hashes of `orders`;
 * - `customers`: only those customers' lists and their orders' hashes (the checkpoint stays: a partial loss);
 * - `orders`: only those orders' hashes;
 * - `lists`: only those customers' lists (their orders' hashes stay);
 * - `listEntries`: only those orders' entries in their customers' lists (one ZREM each, in one MULTI).
 * Returns how many keys were removed.
 */
export async function loseCustomerOrderKeys(
  redis: Redis,
  namespace: string,
  orders: readonly OrderSummaryView[],
  what:
    | { readonly all: true }
    | { readonly customers: readonly string[] }
    | { readonly orders: readonly string[] }
    | { readonly lists: readonly string[] }
    | { readonly listEntries: readonly string[] },
): Promise<number> {
  const keys = customerOrdersKeys(namespace);
  const gen = await redis.get(keys.current);
  if (gen === null) throw new Error(`${keys.current} is not set: nothing to lose`);
  const g = generationKeys(keys.generation(gen));
  const names: string[] = [];
  if ("all" in what) {
    names.push(keys.current, keys.swapLock, g.checkpoint, g.mark, g.customers, g.counts, g.listed);
    for (const o of orders) names.push(g.order(o.orderId), g.customer(o.customerId));
  } else if ("customers" in what) {
    const chosen = new Set(what.customers);
    for (const customerId of chosen) names.push(g.customer(customerId));
    for (const o of orders) if (chosen.has(o.customerId)) names.push(g.order(o.orderId));
  } else if ("orders" in what) {
    for (const orderId of what.orders) names.push(g.order(orderId));
  } else if ("listEntries" in what) {
    const chosen = new Set(what.listEntries);
    const tx = redis.multi();
    for (const o of orders) if (chosen.has(o.orderId)) tx.zrem(g.customer(o.customerId), listMember(o));
    const results = (await tx.exec()) ?? [];
    return results.reduce((sum, [, removed]) => sum + Number(removed), 0);
  } else {
    for (const customerId of what.lists) names.push(g.customer(customerId));
  }
  const unique = [...new Set(names)];
  return unique.length === 0 ? 0 : redis.unlink(...unique);
}
