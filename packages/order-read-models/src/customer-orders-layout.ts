import type { ChainableCommander } from "ioredis";
import { GENERATION_LAYOUT } from "./customer-orders-integrity.js";
import { generationKeys } from "./customer-orders-keys.js";
import type { OrderSummaryView } from "./order-summary.js";

/*
 * Redis layout of `customer_orders` (prefix `{<ns>}:customer_orders`: one hash tag, one Cluster slot per namespace):
 * - `:current` → the live key generation N; everything else lives under `:g<N>:` so a rebuild fills a new
 *   generation and flips the pointer atomically;
 * - `:g<N>:checkpoint` → last applied position (written in the same script as the data);
 * - `:g<N>:mark` → hash `p` position, `e` event id, `s` event store id: the event the checkpoint stands on, written
 *   with it (a mark whose `p` is not the checkpoint is stale: only the position is known then);
 * - `:g<N>:customers` → set of the customer ids listed in the generation (its index: a check or a drop finds every
 *   key of the generation from it, never by SCAN of a keyspace shared with other tenants);
 * - `:g<N>:counts` → hash `orders`, `customers`: how many order hashes and customer lists the writers created, kept by
 *   the same scripts, so a partial loss of keys (some customers gone, the checkpoint still there) shows as a mismatch;
 *   `layout` (2), and `lost` once a writer found an order's hash or list entry gone;
 * - `:g<N>:listed` → hash customer id → entries ever added to its list (a lost list entry shows against it);
 * - `:g<N>:o:<orderId>` → hash of the summary (`pb`: who placed the order, the audit identity of issue 15, since
 *   CUSTOMER_ORDERS_VERSION 3; a hash written before has none and reads as "");
 * - `:g<N>:c:<customerId>` → sorted set, all scores 0, members `<inverted created_at>:<inverted position>:<order id>`
 *   so lexicographic order is newest first (ties: higher position first) and a member is a stable keyset cursor;
 * - `:swap-lock` → set by a rebuild while it swaps; live writes wait;
 * - partitioned (ADR 0019; N = `:g<N>:partitions`, absent = 1): partition 0 keeps `:checkpoint` and `:mark`, partition
 *   i > 0 has `:checkpoint:p<i>` and `:mark:p<i>`; the read model's position is the lowest of them.
 */

const MAX_MS = 9_999_999_999_999;
const MAX_POSITION = Number.MAX_SAFE_INTEGER;

/** The sorted-set member (and page cursor) of an order. */
export function listMember(s: Pick<OrderSummaryView, "createdAt" | "placedPosition" | "orderId">): string {
  const t = String(MAX_MS - s.createdAt.getTime()).padStart(13, "0");
  const p = String(MAX_POSITION - s.placedPosition).padStart(16, "0");
  return `${t}:${p}:${s.orderId}`;
}

const memberPattern = /^\d{13}:\d{16}:[0-9a-f-]{36}$/;

/** Whether `cursor` has the shape of a list member (a page token the reader accepts). */
export function isListMember(cursor: string): boolean {
  return memberPattern.test(cursor);
}

/** The names of an order hash's fields, in the order `orderHashValues` gives their values (the write script's order). */
export const ORDER_HASH_FIELDS = ["c", "s", "p", "cur", "t", "pd", "n", "v", "ca", "ua", "lp", "pp", "pb"] as const;

/** Strings per order in `packRows`' array: the id, the list member and the hash fields. */
export const PACKED_ROW_WIDTH = 2 + ORDER_HASH_FIELDS.length;

/** An order hash's field values, in `ORDER_HASH_FIELDS` order. */
export function orderHashValues(s: OrderSummaryView): string[] {
  return [
    s.customerId,
    s.status,
    s.paymentStatus,
    s.currency,
    String(s.totalMinor),
    String(s.paidMinor),
    String(s.itemCount),
    String(s.version),
    String(s.createdAt.getTime()),
    String(s.updatedAt.getTime()),
    String(s.lastPosition),
    String(s.placedPosition),
    s.placedBy,
  ];
}

/**
 * The changed summaries as one JSON array of strings, 15 per order (id, list member, the hash fields), which the apply
 * script reads with cjson. One argument instead of 15 per order: ioredis builds and Redis parses a 1,400-argument
 * command at about twice the CPU of this string and its decoding (measured: 0.63 vs 0.38 ms in Node, 0.60 vs 0.47 ms
 * in Redis per 100 orders). Everything stays a string, so numbers never pass through Lua's doubles.
 */
export function packRows(summaries: Iterable<OrderSummaryView>): string {
  const flat: string[] = [];
  for (const s of summaries) {
    flat.push(s.orderId, listMember(s));
    for (const field of orderHashValues(s)) flat.push(field);
  }
  const json = JSON.stringify(flat);
  // JSON.stringify escapes a lone surrogate, which cjson refuses; ioredis used to write it as U+FFFD, and so do we.
  return json.includes("\\ud") ? JSON.stringify(flat.map((v) => v.replace(loneSurrogate, "\uFFFD"))) : json;
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Queues an empty generation on `tx`: checkpoint 0 (every partition's, with the count when more than 1), its key
 * counts at 0, the layout that has `:listed`.
 */
export function initGeneration(tx: ChainableCommander, g: string, partitions = 1): ChainableCommander {
  const k = generationKeys(g);
  tx.set(k.checkpoint, "0").hset(k.counts, "orders", "0", "customers", "0", "layout", GENERATION_LAYOUT);
  return partitions > 1 ? layOutGeneration(tx, g, partitions, "0") : tx;
}

/**
 * Queues the partition layout of generation `g` on `tx`: the count, and every partition i > 0's checkpoint and mark at
 * `position` (with `mark`, a copy of partition 0's). Partition 0's are the caller's to write.
 */
export function layOutGeneration(
  tx: ChainableCommander,
  g: string,
  partitions: number,
  position: string,
  mark: { eventId?: string | undefined; storeId?: string | undefined } = {},
): ChainableCommander {
  tx.set(`${g}:partitions`, String(partitions));
  for (let i = 1; i < partitions; i++) {
    tx.set(`${g}:checkpoint:p${i}`, position);
    tx.hset(`${g}:mark:p${i}`, "p", position, "e", mark.eventId ?? "", "s", mark.storeId ?? "");
  }
  return tx;
}
