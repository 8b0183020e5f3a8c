-- orderly_append's look-ups are point look-ups by unique key (idempotency keys, stream versions). plpgsql plans them
-- on a session's first call and keeps the plans (0004 forces generic plans) until the tables' statistics change, and
-- nothing guarantees that they ever do: a server with autovacuum off never analyzes them. Plans made while the tables
-- were empty froze a hash join over a sequential scan of processed_commands, so every append read the whole table
-- and appends slowed down as the log grew (p50 12 → 49 ms at 1,500 commands/s within 80,000 commands). The function
-- pins the access path instead: nested loops over index scans, right for any table size and any batch (≤ 256).
alter function orderly_append(text[], bigint[], text[], text[], integer[], uuid[], text[], text[], uuid[], uuid[], uuid[],
  text[], timestamptz[], integer)
  set enable_seqscan = off;
alter function orderly_append(text[], bigint[], text[], text[], integer[], uuid[], text[], text[], uuid[], uuid[], uuid[],
  text[], timestamptz[], integer)
  set enable_hashjoin = off;
alter function orderly_append(text[], bigint[], text[], text[], integer[], uuid[], text[], text[], uuid[], uuid[], uuid[],
  text[], timestamptz[], integer)
  set enable_mergejoin = off;
