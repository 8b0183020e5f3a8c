-- Read-model checkpoints: one row per projection, moved in the same transaction as the rows it covers.
-- `version` is the projection version (code constant) the model was built with; a mismatch triggers a rebuild.
create table if not exists projection_checkpoints (
  name       text        primary key,
  position   bigint      not null,
  updated_at timestamptz not null default now(),
  version    integer     not null default 1
);

-- One row per order (the OrderSummary of queries.proto). Statuses are the domain's strings ('placed', 'paid', ...):
-- readable in psql and in the checksum, and a 2-byte difference per row does not matter here.
create table if not exists order_summaries (
  order_id         uuid        primary key,
  customer_id      text        not null,
  status           text        not null check (status in ('placed', 'paid', 'shipped', 'cancelled')),
  payment_status   text        not null check (payment_status in ('pending', 'authorized', 'paid', 'failed', 'refunded')),
  currency         text        not null,
  total_minor      bigint      not null,
  paid_minor       bigint      not null,
  item_count       integer     not null,
  version          bigint      not null,  -- stream version of the last applied event
  created_at       timestamptz not null,  -- occurred-at of OrderPlaced
  updated_at       timestamptz not null,  -- occurred-at of the last applied event
  last_position    bigint      not null,  -- global position of the last applied event
  placed_position  bigint      not null   -- global position of OrderPlaced
);
