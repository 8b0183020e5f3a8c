-- Who placed each order (issue 15, audit identity): the OrderPlaced event's actor, '' when auth was off. Rows written
-- before this migration get '' until the rebuild that ORDER_SUMMARIES_VERSION 2 triggers at the projector's start.
alter table order_summaries add column if not exists placed_by text not null default '';
