import type { RecordedEvent } from "@orderly/eventsourcing";
import type { LineItem, OrderEvent, OrderStatus, PaymentStatus } from "@orderly/orders-domain";
import { ProjectionHandlerError, type UnknownEventPolicy } from "@orderly/projector";
import { skipUnknown } from "./unknown-types.js";

/**
 * What the fold reads of a recorded event. Every `RecordedEvent` is one; the rebuild's bulk reader makes only these
 * fields (and `data` only for the event types whose data the fold reads).
 */
export type FoldableEvent = Pick<RecordedEvent, "type" | "data" | "streamId" | "streamVersion" | "position"> & {
  /** `eventId` at least on the last event of a page (what a checkpoint's mark needs). */
  readonly metadata: Pick<RecordedEvent["metadata"], "occurredAt"> & {
    readonly eventId?: string;
    /** The audit identity, read at least on OrderPlaced (`placedBy`). */
    readonly actor?: string | undefined;
  };
};

/** One order as both read models hold it (the query service's `OrderSummaryView`). */
export interface OrderSummaryView {
  orderId: string;
  customerId: string;
  status: OrderStatus;
  paymentStatus: PaymentStatus;
  currency: string;
  totalMinor: number;
  paidMinor: number;
  itemCount: number;
  /** Stream version of the last applied event. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
  /** Global position of the last applied event. */
  lastPosition: number;
  /** Global position of the OrderPlaced event (ties of created_at in the customer list; not in the query view). */
  placedPosition: number;
  /** Who placed the order (OrderPlaced's actor); '' when auth was off. Kept by `order_summaries` only. */
  placedBy: string;
}

const orderStatuses: readonly string[] = ["placed", "paid", "shipped", "cancelled"];
const paymentStatuses: readonly string[] = ["pending", "authorized", "paid", "failed", "refunded"];
export const isOrderStatus = (s: string): s is OrderStatus => orderStatuses.includes(s);
export const isPaymentStatus = (s: string): s is PaymentStatus => paymentStatuses.includes(s);

/**
 * Folds one event into an order's summary. Strict on purpose: an event that cannot apply (unknown type, no
 * OrderPlaced first, a stream version out of sequence, malformed data) throws ProjectionHandlerError and becomes a
 * poison candidate rather than silently producing a wrong row. Events the summary already covers (position at or
 * below `lastPosition`) return it unchanged, which makes replays idempotent.
 */
export function evolveSummary(current: OrderSummaryView | undefined, recorded: FoldableEvent): OrderSummaryView {
  const fail = (message: string): never => {
    throw new ProjectionHandlerError(recorded.position, `${recorded.type} on ${recorded.streamId}: ${message}`);
  };
  if (current && recorded.position <= current.lastPosition) return current;
  const event = { type: recorded.type, data: recorded.data } as OrderEvent;
  const at = recorded.metadata.occurredAt;
  if (event.type === "OrderPlaced") {
    if (current) fail(`order already placed (version ${current.version})`);
    if (recorded.streamVersion !== 1) fail(`OrderPlaced at stream version ${recorded.streamVersion}`);
    const d = event.data;
    if (!d || typeof d.orderId !== "string" || typeof d.customerId !== "string" || typeof d.currency !== "string")
      fail("malformed data");
    if (!Array.isArray(d.items) || !Number.isSafeInteger(d.totalMinor)) fail("malformed items or total");
    return {
      orderId: d.orderId,
      customerId: d.customerId,
      status: "placed",
      paymentStatus: "pending",
      currency: d.currency,
      totalMinor: d.totalMinor,
      paidMinor: 0,
      itemCount: d.items.reduce((sum: number, item: LineItem) => sum + item.quantity, 0),
      version: recorded.streamVersion,
      createdAt: at,
      updatedAt: at,
      lastPosition: recorded.position,
      placedPosition: recorded.position,
      placedBy: recorded.metadata.actor ?? "",
    };
  }
  if (!current) return fail("no OrderPlaced before it");
  if (recorded.streamVersion !== current.version + 1) {
    fail(`stream version ${recorded.streamVersion} does not follow ${current.version}`);
  }
  const next = { ...current, version: recorded.streamVersion, updatedAt: at, lastPosition: recorded.position };
  switch (event.type) {
    case "PaymentAuthorized":
      return { ...next, paymentStatus: "authorized" };
    case "PaymentReceived":
      if (!Number.isSafeInteger(event.data?.amountMinor)) fail("malformed amount");
      return { ...next, paymentStatus: "paid", status: "paid", paidMinor: event.data.amountMinor };
    case "PaymentFailed":
      return { ...next, paymentStatus: "failed" };
    case "PaymentRefunded":
      return { ...next, paymentStatus: "refunded" };
    case "OrderShipped":
      return { ...next, status: "shipped" };
    case "OrderCancelled":
      return { ...next, status: "cancelled" };
    default:
      return fail("unknown event type");
  }
}

/** Order id of an event's stream (`order-<uuid>`). */
export function orderIdOf(recorded: Pick<FoldableEvent, "streamId" | "position">): string {
  if (!recorded.streamId.startsWith("order-")) {
    throw new ProjectionHandlerError(recorded.position, `stream ${recorded.streamId} is not an order stream`);
  }
  return recorded.streamId.slice("order-".length);
}

/**
 * Folds a batch onto the summaries it touches (`current`, keyed by order id) and returns only the changed ones, in
 * order of first change. With a `skip` policy, events of unknown types only move their order's version (pass the
 * batch through `screenUnknown` first: it reports them and leaves out those on other streams).
 */
export function foldBatch(
  current: ReadonlyMap<string, OrderSummaryView>,
  events: readonly RecordedEvent[],
  unknownTypes?: UnknownEventPolicy,
): Map<string, OrderSummaryView> {
  const changed = new Map<string, OrderSummaryView>();
  for (const event of events) {
    const orderId = orderIdOf(event);
    const before = changed.get(orderId) ?? current.get(orderId);
    const skipped = unknownTypes && skipUnknown(before, event, unknownTypes);
    const after = skipped ? skipped.after : evolveSummary(before, event);
    if (after && after !== before) changed.set(orderId, after);
  }
  return changed;
}

/**
 * The orders whose current summary a batch needs: those whose first event in the batch is not their OrderPlaced
 * (stream version 1). An order placed inside the batch cannot have a row yet: the batch only holds events above the
 * checkpoint, and rows change only together with it.
 */
export function ordersNeedingState(events: readonly RecordedEvent[]): string[] {
  const first = new Map<string, number>();
  for (const event of events) {
    const id = orderIdOf(event);
    if (!first.has(id)) first.set(id, event.streamVersion);
  }
  const ids: string[] = [];
  for (const [id, version] of first) if (version !== 1) ids.push(id);
  return ids;
}

/** A canonical line per summary: what rebuild verification and the tests compare. */
export function canonicalSummary(s: OrderSummaryView): string {
  return [
    s.orderId,
    s.customerId,
    s.status,
    s.paymentStatus,
    s.currency,
    s.totalMinor,
    s.paidMinor,
    s.itemCount,
    s.version,
    s.createdAt.getTime(),
    s.updatedAt.getTime(),
    s.lastPosition,
  ].join("|");
}
