-- Orderly event store. Postgres is the source of truth; the event log doubles as the transactional outbox
-- (the relay reads it past its durable checkpoint, see docs/adr/0003-commit-ordered-positions.md).

-- One row, locked by every appending transaction from the moment it takes positions until it commits: positions are
-- therefore gapless and commit-ordered (Commanded's approach). Appends are group-committed, so the lock is taken
-- once per batch of commands, not once per command.
create table if not exists global_position (
  id   smallint primary key default 1 check (id = 1),
  last bigint   not null
);
insert into global_position (id, last) values (1, 0) on conflict (id) do nothing;

create table if not exists streams (
  stream_id text   primary key,
  version   bigint not null check (version >= 1)
);

create table if not exists events (
  position       bigint      primary key,            -- global, gapless, commit-ordered, starts at 1
  event_id       uuid        not null unique,
  stream_id      text        not null,
  stream_version bigint      not null,                -- starts at 1, no holes
  event_type     text        not null,
  data           jsonb       not null,
  command_id     uuid        not null,
  correlation_id uuid        not null,
  causation_id   uuid        not null,
  traceparent    text,
  occurred_at    timestamptz not null,               -- from the command's metadata (the domain has no clock)
  committed_at   timestamptz not null default now(), -- transaction start: the lag clock of relay and projectors
  unique (stream_id, stream_version)
);

-- Client idempotency keys, global across all commands, written in the same transaction as the events.
create table if not exists processed_commands (
  idempotency_key text        primary key,
  request_hash    bytea       not null,   -- sha-256 of the RPC name and the request's canonical bytes
  command_id      uuid        not null,
  stream_id       text        not null,
  stream_version  bigint      not null,
  position        bigint      not null,
  created_at      timestamptz not null default now()
);

-- Durable checkpoints of event-log readers (the outbox relay: name 'outbox-relay').
create table if not exists relay_checkpoints (
  name       text        primary key,
  position   bigint      not null,
  updated_at timestamptz not null default now()
);
