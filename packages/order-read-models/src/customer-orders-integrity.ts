import type { Redis } from "ioredis";
import { customerOrdersKeys, slotScript } from "./customer-orders-keys.js";

/**
 * Partial loss of `customer_orders`' keys: some customers' lists or order hashes gone while the pointer and the
 * checkpoint stay (eviction under a `maxmemory-policy` other than noeviction, a failover that lost writes, a cluster
 * shard lost, keys deleted by hand). The checkpoint cannot show it; what the writers keep beside the data can, read
 * through the generation's own keys only, never a SCAN of a keyspace other tenants share:
 * - `:counts` (hash: `orders`, `customers` created, `layout`, and `lost` when a writer found a key gone),
 * - `:customers` (set: the index of customer ids), `:listed` (hash: customer id → entries ever added to its list).
 * Every kind of loss is caught deterministically, none by sampling (ADR 0007, "Partial loss"):
 * - `checkGeneration`, O(1) (a handful of commands whatever the size), every run: the counts hash, the `lost` flag,
 *   the index's and `:listed`'s sizes against the customers created, the mark beside a non-zero checkpoint;
 * - `RollingAudit`, every key once per pass: each indexed customer's list holds as many entries as `:listed` says
 *   and each entry's order hash exists. A pass is spread over the runs so that it completes within a bound.
 * - `auditGeneration` is one whole pass at once (at start, `pnpm orderly verify`, tests).
 * A writer that touches an order whose hash or list entry vanished sets `lost` (the write script's `HSET` and `ZADD`
 * must both create, or both update), so a loss healed by chance is still reported.
 */

/** The layout version the writers put into `:counts` (`layout`): 2 = with `:listed` and the `lost` flag. */
export const GENERATION_LAYOUT = "2";

const CHECK_SCRIPT = `
local g = ARGV[1]
local c = redis.call('HMGET', g .. ':counts', 'orders', 'customers', 'lost', 'layout')
if not c[1] or not c[2] then return {'counts', '', 0} end
local customers = tonumber(c[2])
if c[3] then return {'lost', c[3], customers} end
local indexed = redis.call('SCARD', g .. ':customers')
if indexed ~= customers then return {'customers', c[2] .. ' created, ' .. indexed .. ' indexed', customers} end
if c[4] then
  local listed = redis.call('HLEN', g .. ':listed')
  if listed ~= customers then return {'listed', c[2] .. ' created, ' .. listed .. ' counted', customers} end
end
local cp = redis.call('GET', g .. ':checkpoint')
if c[4] and cp and cp ~= '0' and redis.call('EXISTS', g .. ':mark') == 0 then return {'mark', cp, customers} end
return {'ok', '', customers}
`;

const AUDIT_SCRIPT = `
local g = ARGV[1]
local layout = ARGV[4] ~= ''
local page = redis.call('SSCAN', g .. ':customers', ARGV[2], 'COUNT', tonumber(ARGV[3]))
local customers, orders, missingLists, missingEntries, missingOrders, example = 0, 0, 0, 0, 0, ''
for _, cid in ipairs(page[2]) do
  customers = customers + 1
  local members = redis.call('ZRANGE', g .. ':c:' .. cid, 0, -1)
  if #members == 0 then
    missingLists = missingLists + 1
    if example == '' then example = 'customer ' .. cid .. "'s list" end
  elseif layout then
    local expected = tonumber(redis.call('HGET', g .. ':listed', cid) or '0')
    if expected > #members then
      missingEntries = missingEntries + expected - #members
      if example == '' then example = 'customer ' .. cid .. ': ' .. #members .. ' of ' .. expected .. ' list entries' end
    elseif expected < #members and example == '' then
      missingEntries = missingEntries + 1
      example = 'customer ' .. cid .. ': ' .. #members .. ' list entries, ' .. expected .. ' counted'
    end
  end
  orders = orders + #members
  if #members > 0 then
    -- One EXISTS for the customer's order hashes; one per hash only when some are gone (to name one).
    local names = {}
    for i, m in ipairs(members) do names[i] = g .. ':o:' .. string.sub(m, 32) end
    local present = redis.call('EXISTS', unpack(names))
    if present < #members then
      missingOrders = missingOrders + #members - present
      if example == '' then
        for i, name in ipairs(names) do
          if redis.call('EXISTS', name) == 0 then example = 'order ' .. string.sub(members[i], 32) .. "'s hash"; break end
        end
      end
    end
  end
end
return {page[1], customers, orders, missingLists, missingEntries, missingOrders, example}
`;

const COUNTS_SCRIPT = `
local c = redis.call('HMGET', ARGV[1] .. ':counts', 'orders', 'customers', 'layout')
return {c[1] or '', c[2] or '', redis.call('SCARD', ARGV[1] .. ':customers'), c[3] or ''}
`;

type AuditChunk = [string, number, number, number, number, number, string];

type IntegrityRedis = Redis & {
  orderlyCheckGeneration(g: string): Promise<[string, string, number]>;
  orderlyAuditChunk(g: string, cursor: string, count: string, layout: string): Promise<AuditChunk>;
  orderlyGenerationCounts(g: string): Promise<[string, string, number, string]>;
};

function withIntegrityScripts(redis: Redis): IntegrityRedis {
  const r = redis as IntegrityRedis;
  if (typeof r.orderlyCheckGeneration !== "function") {
    redis.defineCommand("orderlyCheckGeneration", slotScript(CHECK_SCRIPT));
    redis.defineCommand("orderlyAuditChunk", slotScript(AUDIT_SCRIPT));
    redis.defineCommand("orderlyGenerationCounts", slotScript(COUNTS_SCRIPT));
  }
  return r;
}

export interface GenerationCheck {
  /** Undefined when nothing the O(1) check reads is amiss; otherwise what vanished. */
  readonly problem: string | undefined;
  /** Customers the writers created (0 when the counts are gone). */
  readonly customers: number;
}

/**
 * The O(1) part (a handful of commands in one script, whatever the generation's size): the counts hash, the writers'
 * `lost` flag, the index's and `:listed`'s sizes against the customers created, the mark beside the checkpoint.
 */
export async function checkGenerationCounts(redis: Redis, g: string): Promise<GenerationCheck> {
  const [outcome, detail, customers] = await withIntegrityScripts(redis).orderlyCheckGeneration(g);
  const problem = ((): string | undefined => {
    switch (outcome) {
      case "ok":
        return undefined;
      case "counts":
        return "the key counts vanished (or the generation was written by a version without them)";
      case "lost":
        return `a writer found a key gone: ${detail}`;
      case "customers":
        return `the customer index lost entries (${detail})`;
      case "listed":
        return `the per-customer entry counts lost entries (${detail})`;
      case "mark":
        return `the checkpoint's mark vanished (checkpoint ${detail})`;
      default:
        return `unexpected check outcome ${outcome}`;
    }
  })();
  return { problem, customers: Number(customers) };
}

/** Undefined when the O(1) check finds the generation whole; otherwise what is missing. */
export async function checkGeneration(redis: Redis, g: string): Promise<string | undefined> {
  return (await checkGenerationCounts(redis, g)).problem;
}

interface ChunkTotals {
  customers: number;
  orders: number;
  missingLists: number;
  missingEntries: number;
  missingOrders: number;
  example: string;
}

function emptyTotals(): ChunkTotals {
  return { customers: 0, orders: 0, missingLists: 0, missingEntries: 0, missingOrders: 0, example: "" };
}

function describe(t: ChunkTotals): string | undefined {
  if (t.missingLists === 0 && t.missingEntries === 0 && t.missingOrders === 0) return undefined;
  return (
    `${t.missingLists} customer lists, ${t.missingEntries} list entries and ${t.missingOrders} order hashes ` +
    `vanished (first: ${t.example})`
  );
}

async function auditChunk(
  r: IntegrityRedis,
  g: string,
  cursor: string,
  chunk: number,
  layout: string,
  into: ChunkTotals,
) {
  const [next, c, o, ml, me, mo, ex] = await r.orderlyAuditChunk(g, cursor, String(chunk), layout);
  into.customers += c;
  into.orders += o;
  into.missingLists += ml;
  into.missingEntries += me;
  into.missingOrders += mo;
  if (into.example === "") into.example = ex;
  return next;
}

/**
 * Every key of a generation checked once per pass, the pass spread over the calls of `run`: each call audits its
 * share of the index (`customers × intervalMs / passMs`, at least one script call of `chunk` customers) from where
 * the last one stopped (an SSCAN cursor: every customer indexed for the whole pass is visited). So a key lost at any
 * moment is found within one pass plus one interval, at a cost per call proportional to the generation's size / the
 * number of calls per pass.
 */
export class RollingAudit {
  private g: string | undefined;
  private cursor = "0";
  private pass: ChunkTotals = emptyTotals();
  /** Passes completed (tests, metrics). */
  passes = 0;

  constructor(
    private readonly passMs: number,
    private readonly intervalMs: number,
    private readonly chunk = 100,
  ) {}

  /** Audits this call's share of generation `g` (`whole`: all of it now). Undefined while nothing vanished. */
  async run(redis: Redis, g: string, customers: number, whole = false): Promise<string | undefined> {
    const r = withIntegrityScripts(redis);
    if (g !== this.g) {
      this.g = g;
      this.cursor = "0";
      this.pass = emptyTotals();
    }
    const layout = (await r.hget(`${g}:counts`, "layout")) ?? "";
    const share = whole ? Number.POSITIVE_INFINITY : Math.ceil((customers * this.intervalMs) / this.passMs);
    let visited = 0;
    do {
      const before = this.pass.customers;
      this.cursor = await auditChunk(r, g, this.cursor, this.chunk, layout, this.pass);
      visited += this.pass.customers - before;
      const problem = describe(this.pass);
      if (problem !== undefined) {
        this.cursor = "0";
        this.pass = emptyTotals();
        return problem;
      }
      if (this.cursor === "0") {
        this.passes++;
        this.pass = emptyTotals();
        break;
      }
    } while (visited < share);
    return undefined;
  }

  /** Forget where the pass stands (a new generation). */
  reset(): void {
    this.g = undefined;
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
  /** List entries fewer than the writers added (per customer, `:listed`). */
  readonly missingEntries: number;
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
  const cheap = await checkGenerationCounts(redis, g);
  const totals = emptyTotals();
  let cursor = "0";
  do cursor = await auditChunk(r, g, cursor, chunk, before[3], totals);
  while (cursor !== "0");
  const after = await r.orderlyGenerationCounts(g);
  const counts =
    before[0] === "" || before[1] === "" ? undefined : { orders: Number(before[0]), customers: Number(before[1]) };
  const exact = before.join() === after.join();
  let problem = describe(totals) ?? cheap.problem;
  if (problem === undefined && counts !== undefined && exact) {
    if (totals.customers !== counts.customers || totals.orders !== counts.orders) {
      problem = `found ${totals.orders} orders of ${counts.orders} and ${totals.customers} customers of ${counts.customers}`;
    }
  }
  return {
    counts,
    found: { customers: totals.customers, orders: totals.orders },
    missingLists: totals.missingLists,
    missingEntries: totals.missingEntries,
    missingOrders: totals.missingOrders,
    exact,
    problem,
  };
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
      missingEntries: 0,
      missingOrders: 0,
      exact: true,
      problem: undefined,
    };
  }
  return { generation, ...(await auditGeneration(redis, keys.generation(generation))) };
}
