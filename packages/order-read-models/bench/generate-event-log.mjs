// Fills an empty event store with `events` order events, generated inside Postgres (a few seconds for a million
// instead of minutes through the append path). The mix is the one of `generateOrderHistories` (seven lifecycles,
// 1-3 line items, ~20 orders per customer... here ~5 per customer), but spread the way a live log spreads them: an
// order's payment follows within ~2,000 events, shipping within ~50,000, a refund or cancellation within ~100,000,
// so orders interleave and some span a tenth of the log. Positions are gapless from 1; `global_position` is set to
// the head. Returns the head.
export async function generateEventLog(pool, events, seed = 0.42) {
  const orders = Math.ceil(events / 2.9); // ~3 events an order; the log is cut at `events`
  const client = await pool.connect();
  try {
    await client.query("select setseed($1)", [seed]);
    await client.query(`create temp table gen_shapes (shape int, k int, type text)`);
    await client.query(`insert into gen_shapes values
      (0, 1, 'OrderPlaced'),
      (1, 1, 'OrderPlaced'), (1, 2, 'PaymentReceived'),
      (2, 1, 'OrderPlaced'), (2, 2, 'PaymentAuthorized'), (2, 3, 'PaymentReceived'), (2, 4, 'OrderShipped'),
      (3, 1, 'OrderPlaced'), (3, 2, 'PaymentFailed'), (3, 3, 'OrderCancelled'),
      (4, 1, 'OrderPlaced'), (4, 2, 'PaymentReceived'), (4, 3, 'PaymentRefunded'), (4, 4, 'OrderCancelled'),
      (5, 1, 'OrderPlaced'), (5, 2, 'OrderCancelled'),
      (6, 1, 'OrderPlaced'), (6, 2, 'PaymentAuthorized'), (6, 3, 'PaymentReceived'), (6, 4, 'OrderShipped'),
        (6, 5, 'PaymentRefunded')`);
    await client.query(
      `create temp table gen_orders as
       select i, gen_random_uuid() as order_id, 'customer-' || floor(random() * $2)::int as customer_id,
         floor(random() * 7)::int as shape, 1 + floor(random() * 3)::int as n_items
       from generate_series(1, $1) i`,
      [orders, Math.max(1, Math.round(orders / 5))],
    );
    await client.query(
      `create temp table gen_items as
       select o.i, jsonb_agg(jsonb_build_object('sku', 'sku-' || it.k || '-' || it.s, 'quantity', it.q,
           'unitPriceMinor', it.p) order by it.k) as items, sum(it.q * it.p)::bigint as total
       from gen_orders o, lateral (
         select k, floor(random() * 100 + o.i * 0)::int as s, 1 + floor(random() * 5 + o.i * 0)::int as q,
           100 + floor(random() * 10000 + o.i * 0)::int as p
         from generate_series(1, o.n_items) k) it
       group by o.i`,
    );
    await client.query(
      `create temp table gen_events as
       select o.i, o.order_id, o.customer_id, s.k, s.type,
         o.i * 3.0 + sum(g.gap) over (partition by o.i order by s.k) as t
       from gen_orders o join gen_shapes s on s.shape = o.shape
       cross join lateral (select case when s.k = 1 then 0
         when s.type in ('PaymentAuthorized', 'PaymentReceived', 'PaymentFailed') then random() * 2000
         when s.type = 'OrderShipped' then random() * 50000
         else random() * 100000 end as gap) g`,
    );
    await client.query(
      `insert into events (position, event_id, stream_id, stream_version, event_type, data, command_id,
         correlation_id, causation_id, occurred_at, committed_at)
       select position, gen_random_uuid(), 'order-' || order_id, k, type, data, c, c, c, at, at
       from (
         select row_number() over (order by e.t, e.i, e.k) as position, e.order_id, e.k, e.type,
           case e.type
             when 'OrderPlaced' then jsonb_build_object('orderId', e.order_id, 'customerId', e.customer_id,
               'currency', 'EUR', 'items', it.items, 'totalMinor', it.total)
             when 'OrderShipped' then jsonb_build_object('carrier', 'DHL', 'trackingNumber', 'trk-' || e.k)
             when 'OrderCancelled' then jsonb_build_object('reason', 'customer asked')
             else jsonb_build_object('amountMinor', it.total, 'paymentReference', 'pay-' || left(e.order_id::text, 8))
           end as data,
           gen_random_uuid() as c,
           timestamptz '2026-11-01 00:00:00+00' + floor(e.t * 10) * interval '1 millisecond' as at
         from gen_events e join gen_items it on it.i = e.i
       ) x
       where position <= $1`,
      [events],
    );
    const head = await client.query("select coalesce(max(position), 0)::int as head from events");
    await client.query("update global_position set last = $1 where id = 1", [head.rows[0].head]);
    await client.query("drop table gen_shapes, gen_orders, gen_items, gen_events");
    await client.query("analyze events");
    return head.rows[0].head;
  } finally {
    client.release();
  }
}
