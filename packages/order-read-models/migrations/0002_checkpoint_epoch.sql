-- Incremented by every rebuild swap: the live writer compares it with the position, so a model swapped in at the
-- same checkpoint is noticed (and any state the writer cached about the old one is dropped).
alter table projection_checkpoints add column if not exists epoch bigint not null default 0;
