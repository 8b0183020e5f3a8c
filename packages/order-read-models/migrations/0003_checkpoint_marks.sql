-- The mark a checkpoint stands on (issue 13): the id of the event at `position` and the event store it came from
-- (store_identity.store_id). The projector checks it against the store on start and on idle ticks, so a store that
-- went back (a restore, a new database) is noticed rather than skipped over. Null for rows written before.
alter table projection_checkpoints add column if not exists event_id uuid;
alter table projection_checkpoints add column if not exists store_id uuid;
