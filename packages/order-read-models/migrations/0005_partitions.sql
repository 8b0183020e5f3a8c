-- Partitioned read models (ADR 0019): a read model split N ways keeps one checkpoint row per partition — partition 0
-- in the read model's own row (`order_summaries`, as before), partition i > 0 in `order_summaries.p<i>` — and every
-- row records N. Existing rows are the one partition of an unpartitioned read model: 1.
alter table projection_checkpoints add column if not exists partitions integer not null default 1;
