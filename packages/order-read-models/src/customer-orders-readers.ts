import type { Position } from "@orderly/eventsourcing";
import { ValidationError } from "@orderly/eventsourcing";
import type { Redis } from "ioredis";
import { hashToSummary } from "./customer-orders-hash.js";
import { customerOrdersKeys } from "./customer-orders-keys.js";
import { isListMember } from "./customer-orders-layout.js";
import { type ScriptRedis, withScripts } from "./customer-orders-scripts.js";
import type { OrderSummaryView } from "./order-summary.js";

function hashEntries(raw: string[] | Record<string, string>): Record<string, string> {
  if (!Array.isArray(raw)) return raw;
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) h[raw[i] as string] = raw[i + 1] as string;
  return h;
}

/** ListCustomerOrders' reader: one Lua script reads the pointer, a page of the sorted set and the hashes atomically. */
export class RedisCustomerOrdersReader {
  private readonly redis: ScriptRedis;
  private readonly keys: ReturnType<typeof customerOrdersKeys>;

  constructor(redis: Redis, namespace: string) {
    this.redis = withScripts(redis);
    this.keys = customerOrdersKeys(namespace);
  }

  async listCustomerOrders(
    customerId: string,
    page: { limit: number; after?: string },
  ): Promise<{ orders: OrderSummaryView[]; next?: string }> {
    if (page.after !== undefined && page.after !== "" && !isListMember(page.after)) {
      throw new ValidationError("page_token", "malformed cursor");
    }
    const limit = Math.max(1, Math.floor(page.limit));
    const raw = await this.redis.orderlyList(this.keys.prefix, customerId, page.after ?? "", String(limit + 1));
    const orders: OrderSummaryView[] = [];
    const members: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const member = raw[i] as string;
      const summary = hashToSummary(member.slice(31), hashEntries(raw[i + 1] as string[]));
      if (summary) {
        orders.push(summary);
        members.push(member);
      }
    }
    if (orders.length > limit) {
      orders.length = limit;
      return { orders, next: members[limit - 1] as string };
    }
    return { orders };
  }
}

/** The last position `customer_orders` has applied (0 when Redis holds nothing). */
export class RedisCheckpointReader {
  private readonly redis: ScriptRedis;
  private readonly prefix: string;

  constructor(redis: Redis, namespace: string) {
    this.redis = withScripts(redis);
    this.prefix = customerOrdersKeys(namespace).prefix;
  }

  async checkpoint(): Promise<Position> {
    return Number(await this.redis.orderlyCheckpoint(this.prefix));
  }
}
