import type { Redis } from "ioredis";
import { slotScript } from "./customer-orders-keys.js";
import { ORDER_HASH_FIELDS, PACKED_ROW_WIDTH } from "./customer-orders-layout.js";

/**
 * The Lua that writes packed rows (`d`, from `packRows`) into generation `g`: each order's hash, its customer-list
 * entry, and what the partial-loss checks compare (customer-orders-integrity.ts): the index, the per-customer entry
 * counts and the counts. An order's hash and its list entry are created together and updated together; a write that
 * creates one of them while the other exists found a key gone, and says so in the counts (`lost`). Shared by the
 * live apply script and the rebuild's write script, so the layout is written in one place.
 */
export const WRITE_ROWS_LUA = `local orders, customers = 0, 0
for i = 1, #d, ${PACKED_ROW_WIDTH} do
  local oid, cid = d[i], d[i + 2]
  local added = redis.call('HSET', g .. ':o:' .. oid, ${ORDER_HASH_FIELDS.map((name, j) => `'${name}', d[i + ${j + 2}]`).join(", ")})
  local entered = redis.call('ZADD', g .. ':c:' .. cid, 0, d[i + 1])
  if added > 0 then orders = orders + 1 end
  if entered > 0 then
    redis.call('HINCRBY', g .. ':listed', cid, 1)
    customers = customers + redis.call('SADD', g .. ':customers', cid)
  end
  if (added > 0) ~= (entered > 0) then
    if added > 0 then redis.call('HSETNX', g .. ':counts', 'lost', 'order ' .. oid .. "'s hash")
    else redis.call('HSETNX', g .. ':counts', 'lost', 'order ' .. oid .. "'s list entry") end
  end
end
if orders > 0 then redis.call('HINCRBY', g .. ':counts', 'orders', orders) end
if customers > 0 then redis.call('HINCRBY', g .. ':counts', 'customers', customers) end
`;

/** Lua: `low` = the lowest partition checkpoint of generation `g` with `parts` partitions (as a string). */
const LOWEST_LUA = `  local low, lown = nil, nil
  for i = 0, tonumber(parts) - 1 do
    local k = g .. ':checkpoint'
    if i > 0 then k = k .. ':p' .. i end
    local v = redis.call('GET', k) or '0'
    local n = tonumber(v)
    if lown == nil or n < lown then low, lown = v, n end
  end
`;

/**
 * One batch of a partition (ARGV[10] its key suffix, ARGV[11] the count; ADR 0019): refuses a generation laid out for
 * another count, compares-and-sets the partition's checkpoint, and announces the read model's position, the lowest
 * partition's.
 */
const APPLY_SCRIPT = `
local prefix, gen = ARGV[1], ARGV[2]
if ARGV[6] == 'live' then
  local cur = redis.call('GET', prefix .. ':current')
  if cur ~= gen then return {'moved', cur or ''} end
  if redis.call('EXISTS', prefix .. ':swap-lock') == 1 then return {'paused', ''} end
end
local g = prefix .. ':g' .. gen
local parts = redis.call('GET', g .. ':partitions') or '1'
if parts ~= ARGV[11] then return {'layout', parts} end
local cp = redis.call('GET', g .. ':checkpoint' .. ARGV[10])
if cp ~= ARGV[3] then return {'checkpoint', cp or ''} end
local d = cjson.decode(ARGV[7])
${WRITE_ROWS_LUA}redis.call('SET', g .. ':checkpoint' .. ARGV[10], ARGV[4])
redis.call('HSET', g .. ':mark' .. ARGV[10], 'p', ARGV[4], 'e', ARGV[8], 's', ARGV[9])
if ARGV[6] == 'live' then
${LOWEST_LUA}  redis.call('PUBLISH', ARGV[5], low)
end
return {'ok', ARGV[4]}
`;

const LIST_SCRIPT = `
local cur = redis.call('GET', ARGV[1] .. ':current')
if not cur then return {} end
local g = ARGV[1] .. ':g' .. cur
local min = '-'
if ARGV[3] ~= '' then min = '(' .. ARGV[3] end
local members = redis.call('ZRANGE', g .. ':c:' .. ARGV[2], min, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, m in ipairs(members) do
  out[#out + 1] = m
  out[#out + 1] = redis.call('HGETALL', g .. ':o:' .. string.sub(m, 32))
end
return out
`;

/** The read model's position: the lowest partition checkpoint of the live generation. */
const CHECKPOINT_SCRIPT = `
local cur = redis.call('GET', ARGV[1] .. ':current')
if not cur then return '0' end
local g = ARGV[1] .. ':g' .. cur
local parts = redis.call('GET', g .. ':partitions') or '1'
${LOWEST_LUA}return low
`;

const MARK_SCRIPT = `
local cur = redis.call('GET', ARGV[1] .. ':current')
if not cur then return {'0', '', ''} end
local g = ARGV[1] .. ':g' .. cur
local cp = redis.call('GET', g .. ':checkpoint' .. ARGV[2]) or '0'
local m = redis.call('HMGET', g .. ':mark' .. ARGV[2], 'p', 'e', 's')
if m[1] ~= cp then return {cp, '', ''} end
return {cp, m[2] or '', m[3] or ''}
`;

const FLIP_SCRIPT = `
local cur = redis.call('GET', ARGV[1] .. ':current') or ''
if cur ~= ARGV[2] then return 0 end
redis.call('SET', ARGV[1] .. ':current', ARGV[3])
redis.call('DEL', ARGV[1] .. ':swap-lock')
redis.call('PUBLISH', ARGV[1] .. ':checkpoint', ARGV[4])
return 1
`;

export type ScriptRedis = Redis & {
  orderlyApply(...args: string[]): Promise<[string, string]>;
  orderlyList(...args: string[]): Promise<(string | string[])[]>;
  orderlyCheckpoint(prefix: string): Promise<string>;
  orderlyMark(prefix: string, suffix: string): Promise<[string, string, string]>;
  orderlyFlip(...args: string[]): Promise<number>;
};

/** Registers the Lua scripts once per connection (EVALSHA with an automatic EVAL fallback). */
export function withScripts(redis: Redis): ScriptRedis {
  const r = redis as ScriptRedis;
  if (typeof r.orderlyApply !== "function") {
    redis.defineCommand("orderlyApply", slotScript(APPLY_SCRIPT));
    redis.defineCommand("orderlyList", slotScript(LIST_SCRIPT));
    redis.defineCommand("orderlyCheckpoint", slotScript(CHECKPOINT_SCRIPT));
    redis.defineCommand("orderlyMark", slotScript(MARK_SCRIPT));
    redis.defineCommand("orderlyFlip", slotScript(FLIP_SCRIPT));
  }
  return r;
}
