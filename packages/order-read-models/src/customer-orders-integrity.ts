import type { Redis } from "ioredis";
import { customerOrdersKeys } from "./customer-orders-keys.js";

/**
 * Partial loss of `customer_orders`' keys: some customers' lists or order hashes gone while the pointer and the
 * checkpoint stay (eviction under a `maxmemory-policy` other than noeviction, a failover that lost writes, a cluster
 * shard lost, keys deleted by hand). The checkpoint cannot show it; the generation's index (`:customers`, the set of its
 * customer ids) and the writers' counts (`:counts`, orders and customers created) can. Two checks read them, both
 * through the generation's own keys, never a SCAN of a keyspace other tenants share:
 * - `checkGeneration` (cheap, every few seconds): the counts hash exists, the index holds as many customers as were
 *   created, and a random sample of customers has its list and a random order of each list its hash;
 * - `auditCustomerOrders` (every key, in chunks of the index): every indexed customer has its list, every listed order
 *   its hash, and when nothing was written meanwhile, as many customers and orders as the counts say.
 */

const CHECK_SCRIPT = `
local g = ARGV[1]
local counts = redis.call('HMGET', g .. ':counts', 'orders', 'customers')
if not counts[1] or not counts[2] then return {'counts', ''} end
local customers = tonumber(counts[2])
local indexed = redis.call('SCARD', g .. ':customers')
if indexed ~= customers then return {'customers', counts[2] .. ' created, ' .. indexed .. ' indexed'} end
if customers == 0 then return {'ok', ''} end
for _, cid in ipairs(redis.call('SRANDMEMBER', g .. ':customers', tonumber(ARGV[2]))) do
  local m = redis.call('ZRANDMEMBER', g .. ':c:' .. cid)
  if not m then return {'list', cid} end
  local oid = string.sub(m, 32)
  if redis.call('EXISTS', g .. ':o:' .. oid) == 0 then return {'order', oid} end
end
return {'ok', ''}
`;

const AUDIT_SCRIPT = `
local g = ARGV[1]
local page = redis.call('SSCAN', g .. ':customers', ARGV[2], 'COUNT', tonumber(ARGV[3]))
local customers, orders, missingLists, missingOrders, example = 0, 0, 0, 0, ''
for _, cid in ipairs(page[2]) do
  customers = customers + 1
  local members = redis.call('ZRANGE', g .. ':c:' .. cid, 0, -1)
  if #members == 0 then
    missingLists = missingLists + 1
    if example == '' then example = 'customer ' .. cid end
  end
  for _, m in ipairs(members) do
    orders = orders + 1
    local oid = string.sub(m, 32)
    if redis.call('EXISTS', g .. ':o:' .. oid) == 0 then
      missingOrders = missingOrders + 1
      if example == '' then example = 'order ' .. oid end
    end
  end
end
return {page[1], customers, orders, missingLists, missingOrders, example}
`;

const COUNTS_SCRIPT = `
local c = redis.call('HMGET', ARGV[1] .. ':counts', 'orders', 'customers')
return {c[1] or '', c[2] or '', redis.call('SCARD', ARGV[1] .. ':customers')}
`;

type IntegrityRedis = Redis & {
  orderlyCheckGeneration(g: string, sample: string): Promise<[string, string]>;
  orderlyAuditChunk(
    g: string,
    cursor: string,
    count: string,
  ): Promise<[string, number, number, number, number, string]>;
  orderlyGenerationCounts(g: string): Promise<[string, string, number]>;
};

function withIntegrityScripts(redis: Redis): IntegrityRedis {
  const r = redis as IntegrityRedis;
  if (typeof r.orderlyCheckGeneration !== "function") {
    redis.defineCommand("orderlyCheckGeneration", { numberOfKeys: 0, lua: CHECK_SCRIPT });
    redis.defineCommand("orderlyAuditChunk", { numberOfKeys: 0, lua: AUDIT_SCRIPT });
    redis.defineCommand("orderlyGenerationCounts", { numberOfKeys: 0, lua: COUNTS_SCRIPT });
  }
  return r;
}

/** Undefined when the generation looks whole; otherwise what is missing. */
export async function checkGeneration(redis: Redis, g: string, sample = 64): Promise<string | undefined> {
  const [outcome, detail] = await withIntegrityScripts(redis).orderlyCheckGeneration(g, String(sample));
  switch (outcome) {
    case "ok":
      return undefined;
    case "counts":
      return "the key counts vanished (or the generation was written by a version without them)";
    case "customers":
      return `the customer index lost entries (${detail})`;
    case "list":
      return `customer ${detail}'s list vanished`;
    case "order":
      return `order ${detail}'s hash vanished`;
    default:
      return `unexpected check outcome ${outcome}`;
  }
}

export interface CustomerOrdersAudit {
  /** The live generation (undefined: no pointer, nothing to audit). */
  readonly generation: string | undefined;
  /** What the writers recorded creating (undefined: the counts hash is gone). */
  readonly counts: { readonly orders: number; readonly customers: number } | undefined;
  /** What the index leads to. */
  readonly found: { readonly customers: number; readonly orders: number };
  readonly missingLists: number;
  readonly missingOrders: number;
  /** Nothing was written during the audit, so `found` was compared with `counts` exactly. */
  readonly exact: boolean;
  /** Undefined when whole; otherwise the first difference, in words. */
  readonly problem: string | undefined;
}

/** Audits generation `g` (`<prefix>:g<N>`) key by key through its index, `chunk` customers per script call. */
export async function auditGeneration(
  redis: Redis,
  g: string,
  chunk = 200,
): Promise<Omit<CustomerOrdersAudit, "generation">> {
  const r = withIntegrityScripts(redis);
  const before = await r.orderlyGenerationCounts(g);
  let cursor = "0";
  let customers = 0;
  let orders = 0;
  let missingLists = 0;
  let missingOrders = 0;
  let example = "";
  do {
    const [next, c, o, ml, mo, ex] = await r.orderlyAuditChunk(g, cursor, String(chunk));
    cursor = next;
    customers += c;
    orders += o;
    missingLists += ml;
    missingOrders += mo;
    if (example === "") example = ex;
  } while (cursor !== "0");
  const after = await r.orderlyGenerationCounts(g);
  const counts =
    before[0] === "" || before[1] === "" ? undefined : { orders: Number(before[0]), customers: Number(before[1]) };
  const exact = before.join() === after.join();
  let problem: string | undefined;
  if (counts === undefined) problem = "the key counts vanished";
  else if (missingLists > 0 || missingOrders > 0) {
    problem = `${missingLists} customer lists and ${missingOrders} order hashes vanished (first: ${example})`;
  } else if (exact && counts.customers !== before[2]) {
    problem = `the customer index holds ${before[2]} of ${counts.customers} customers`;
  } else if (exact && (customers !== counts.customers || orders !== counts.orders)) {
    problem = `found ${orders} orders of ${counts.orders} and ${customers} customers of ${counts.customers}`;
  }
  return { counts, found: { customers, orders }, missingLists, missingOrders, exact, problem };
}

/** The live generation of `customer_orders` audited (for `pnpm orderly verify` and tests). */
export async function auditCustomerOrders(redis: Redis, namespace: string): Promise<CustomerOrdersAudit> {
  const keys = customerOrdersKeys(namespace);
  const generation = (await redis.get(keys.current)) ?? undefined;
  if (generation === undefined) {
    return {
      generation,
      counts: undefined,
      found: { customers: 0, orders: 0 },
      missingLists: 0,
      missingOrders: 0,
      exact: true,
      problem: undefined,
    };
  }
  return { generation, ...(await auditGeneration(redis, keys.generation(generation))) };
}
