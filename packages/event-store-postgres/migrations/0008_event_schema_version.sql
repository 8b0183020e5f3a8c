-- Schema evolution (issue 16, docs/events.md): every event records the version of its payload's schema
-- (`schema_version`, 1 for every event written before this migration). orderly_append gains an e_schema_versions array
-- after e_actors; the function is otherwise that of 0007. Readers upcast older payloads through the upcasters
-- registered in one place (packages/orders-domain/src/upcasters.ts) before anyone sees them.
alter table events add column if not exists schema_version integer not null default 1;

drop function if exists orderly_append(text[], bigint[], text[], text[], integer[], uuid[], text[], text[], uuid[],
  uuid[], uuid[], text[], timestamptz[], text[], integer);

create or replace function orderly_append(
  c_stream_ids      text[],
  c_expected        bigint[],
  c_keys            text[],
  c_hashes          text[],
  c_event_counts    integer[],
  e_event_ids       uuid[],
  e_types           text[],
  e_data            text[],
  e_command_ids     uuid[],
  e_correlation_ids uuid[],
  e_causation_ids   uuid[],
  e_traceparents    text[],
  e_occurred_at     timestamptz[],
  e_actors          text[],
  e_schema_versions integer[],
  p_lock_timeout_ms integer default 5000
) returns table (
  r_status         smallint,
  r_stream_version bigint,
  r_position       bigint,
  r_command_id     uuid,
  r_stream_id      text
)
language plpgsql
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_hashjoin = off
set enable_mergejoin = off
as $$
declare
  n          integer := coalesce(array_length(c_stream_ids, 1), 0);
  m          integer := coalesce(array_length(e_event_ids, 1), 0);
  v_last     bigint;
  v_start    bigint;
  v_hashes   bytea[];
  -- what the database holds before the batch
  x_hash     bytea[];
  x_command  uuid[];
  x_stream   text[];
  x_version  bigint[];
  x_position bigint[];
  x_current  bigint[];
  -- the previous command of the batch with the same key / the same stream
  prev_key    integer[];
  prev_stream integer[];
  -- state after command i: the stream's version, and the record of command i's key
  ver_after  bigint[];
  k_hash     bytea[];
  k_command  uuid[];
  k_stream   text[];
  k_version  bigint[];
  k_position bigint[];
  -- outcomes
  o_status   smallint[];
  o_version  bigint[];
  o_position bigint[];
  o_command  uuid[];
  o_stream   text[];
  -- per event: position, stream and version of accepted events (null for rejected commands)
  ev_pos     bigint[];
  ev_stream  text[];
  ev_version bigint[];
  i integer;
  j integer;
  e integer;
  first_event integer := 1;
  cnt     integer;
  cur     bigint;
  h_hash  bytea;
begin
  if n = 0 then
    return;
  end if;
  if (select coalesce(sum(c), 0) from unnest(c_event_counts) as c) <> m then
    raise exception 'orderly_append: % events given, the commands claim %', m,
      (select sum(c) from unnest(c_event_counts) as c) using errcode = '22023';
  end if;

  perform set_config('lock_timeout', p_lock_timeout_ms::text, true);
  -- The counter row lock, held until commit, orders every appender: from here on we are alone.
  select g.last into v_last from global_position g where g.id = 1 for update;
  v_start := v_last;

  select array_agg(decode(h, 'hex') order by o) into v_hashes from unnest(c_hashes) with ordinality as t(h, o);

  select array_agg(p.request_hash order by k.o), array_agg(p.command_id order by k.o),
         array_agg(p.stream_id order by k.o), array_agg(p.stream_version order by k.o),
         array_agg(p.position order by k.o)
    into x_hash, x_command, x_stream, x_version, x_position
    from unnest(c_keys) with ordinality as k(key, o)
    left join lateral (select pc.* from processed_commands pc where pc.idempotency_key = k.key) p on true;

  -- A stream's version is its last event's: one probe of the (stream_id, stream_version) index per command.
  select array_agg(s.version order by k.o) into x_current
    from unnest(c_stream_ids) with ordinality as k(sid, o)
    left join lateral (select max(ev.stream_version) as version from events ev where ev.stream_id = k.sid) s on true;

  select array_agg(t.prev order by t.o) into prev_key
    from (select k.o, lag(k.o) over (partition by k.key order by k.o) as prev
            from unnest(c_keys) with ordinality as k(key, o)) t;
  select array_agg(t.prev order by t.o) into prev_stream
    from (select k.o, lag(k.o) over (partition by k.sid order by k.o) as prev
            from unnest(c_stream_ids) with ordinality as k(sid, o)) t;

  ver_after  := array_fill(null::bigint, array[n]);
  k_hash     := array_fill(null::bytea, array[n]);
  k_command  := array_fill(null::uuid, array[n]);
  k_stream   := array_fill(null::text, array[n]);
  k_version  := array_fill(null::bigint, array[n]);
  k_position := array_fill(null::bigint, array[n]);
  o_status   := array_fill(null::smallint, array[n]);
  o_version  := array_fill(null::bigint, array[n]);
  o_position := array_fill(null::bigint, array[n]);
  o_command  := array_fill(null::uuid, array[n]);
  o_stream   := array_fill(null::text, array[n]);
  ev_pos     := array_fill(null::bigint, array[m]);
  ev_stream  := array_fill(null::text, array[m]);
  ev_version := array_fill(null::bigint, array[m]);

  for i in 1 .. n loop
    cnt := c_event_counts[i];
    if cnt is null or cnt < 1 then
      raise exception 'orderly_append: command % has no events', i using errcode = '22023';
    end if;

    j := prev_stream[i];
    cur := case when j is null then coalesce(x_current[i], 0) else ver_after[j] end;
    ver_after[i] := cur;

    if c_keys[i] is not null then
      j := prev_key[i];
      if j is null then
        k_hash[i] := x_hash[i]; k_command[i] := x_command[i]; k_stream[i] := x_stream[i];
        k_version[i] := x_version[i]; k_position[i] := x_position[i];
      else
        k_hash[i] := k_hash[j]; k_command[i] := k_command[j]; k_stream[i] := k_stream[j];
        k_version[i] := k_version[j]; k_position[i] := k_position[j];
      end if;
      h_hash := k_hash[i];
    else
      h_hash := null;
    end if;

    if h_hash is not null then
      if h_hash = v_hashes[i] then
        o_status[i] := 1;
        o_command[i] := k_command[i]; o_stream[i] := k_stream[i];
        o_version[i] := k_version[i]; o_position[i] := k_position[i];
      else
        o_status[i] := 2;
      end if;
    elsif c_expected[i] is not null and c_expected[i] <> cur then
      o_status[i] := 3;
      o_version[i] := cur;
    else
      for e in first_event .. first_event + cnt - 1 loop
        v_last := v_last + 1;
        cur := cur + 1;
        ev_pos[e] := v_last;
        ev_stream[e] := c_stream_ids[i];
        ev_version[e] := cur;
      end loop;
      ver_after[i] := cur;
      o_status[i] := 0;
      o_command[i] := e_command_ids[first_event];
      o_stream[i] := c_stream_ids[i];
      o_version[i] := cur;
      o_position[i] := v_last;
      if c_keys[i] is not null then
        k_hash[i] := v_hashes[i]; k_command[i] := o_command[i]; k_stream[i] := o_stream[i];
        k_version[i] := cur; k_position[i] := v_last;
      end if;
    end if;
    first_event := first_event + cnt;
  end loop;

  if v_last > v_start then
    insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id, correlation_id,
                        causation_id, traceparent, occurred_at, actor, schema_version)
    select t.pos, t.id, t.sid, t.ver, t.typ, t.data::jsonb, t.cmd, t.corr, t.caus, t.tp, t.occ, t.act, coalesce(t.sv, 1)
      from unnest(ev_pos, e_event_ids, ev_stream, ev_version, e_types, e_data, e_command_ids, e_correlation_ids,
                  e_causation_ids, e_traceparents, e_occurred_at, e_actors, e_schema_versions)
           as t(pos, id, sid, ver, typ, data, cmd, corr, caus, tp, occ, act, sv)
     where t.pos is not null;

    insert into processed_commands (idempotency_key, request_hash, command_id, stream_id, stream_version, position)
    select t.key, t.hash, t.cmd, t.sid, t.ver, t.pos
      from unnest(c_keys, v_hashes, o_command, o_stream, o_version, o_position, o_status)
           as t(key, hash, cmd, sid, ver, pos, status)
     where t.status = 0 and t.key is not null;

    update global_position set last = v_last where id = 1;
    perform pg_notify('orderly_events', v_last::text);
  end if;

  return query
    select t.status, t.ver, t.pos, t.cmd, t.sid
      from unnest(o_status, o_version, o_position, o_command, o_stream) with ordinality as t(status, ver, pos, cmd, sid, o)
     order by t.o;
end
$$;
