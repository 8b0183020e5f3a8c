-- Store identity and continuity (issue 13, docs/adr/0010-store-identity-and-continuity.md). Postgres can go back: a
-- restore from a backup, a failover to a replica that missed the last commits, a new database under an old namespace.
-- Downstream checkpoints therefore record the *mark* they stand on (position and event id, and this store's id), and
-- every reader checks that mark against the store before it trusts it.

-- One row, made with the schema: a new database gets a new id; a restore of this one keeps it.
create table if not exists store_identity (
  id         smallint    primary key default 1 check (id = 1),
  store_id   uuid        not null default gen_random_uuid(),
  created_at timestamptz not null default now()
);
insert into store_identity (id) values (1) on conflict (id) do nothing;

-- The relay's checkpoint names the event it stands on (null for rows written before this migration).
alter table relay_checkpoints add column if not exists event_id uuid;

-- Position ranges that a recovery skipped (written only by `pnpm orderly recover`): the bus or a read model saw other
-- events at these positions before the store went back, so they are never given to a new event. A mark inside a
-- retired range is still valid as long as its event is not in the store.
create table if not exists retired_positions (
  first      bigint      primary key,
  last       bigint      not null,
  retired_at timestamptz not null default now(),
  reason     text        not null,
  check (first >= 1 and last >= first)
);
