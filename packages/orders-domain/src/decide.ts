import { AlreadyExistsError, BusinessRuleError, NotFoundError } from "@orderly/eventsourcing";
import type { CancelOrder, CreateOrder, OrderCommand, ShipOrder, UpdatePaymentStatus } from "./commands.js";
import type { OrderCancelled, OrderEvent, OrderPlaced, OrderShipped, PaymentData } from "./events.js";
import { type Order, type OrderState, orderExists } from "./state.js";
import type { PaymentStatus } from "./status.js";
import { validateCommand } from "./validation.js";

/**
 * The order rules (issue 3). Throws ValidationError (a limit is broken), NotFoundError (no such order),
 * AlreadyExistsError (CreateOrder on an existing order) or BusinessRuleError (a rule forbids the command).
 * No clock and no I/O: time travels in the command's metadata and becomes the events' occurred-at at the edge.
 */
export function decide(command: OrderCommand, state: OrderState): OrderEvent[] {
  validateCommand(command);
  switch (command.type) {
    case "CreateOrder":
      return createOrder(command, state);
    case "UpdatePaymentStatus":
      return updatePaymentStatus(command, existing(state, command.data.orderId));
    case "ShipOrder":
      return shipOrder(command, existing(state, command.data.orderId));
    case "CancelOrder":
      return cancelOrder(command, existing(state, command.data.orderId));
    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${(unknown as { type: string }).type}`);
    }
  }
}

function existing(state: OrderState, orderId: string): Order {
  if (!orderExists(state)) throw new NotFoundError(`order ${orderId} does not exist`);
  return state;
}

function createOrder({ data }: CreateOrder, state: OrderState): [OrderPlaced] {
  if (orderExists(state)) throw new AlreadyExistsError(`order ${data.orderId} already exists`);
  const items = data.items.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor }));
  const totalMinor = items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0);
  return [
    {
      type: "OrderPlaced",
      data: { orderId: data.orderId, customerId: data.customerId, currency: data.currency, items, totalMinor },
    },
  ];
}

/** Allowed payment transitions; anything else (the current status again, PENDING as a target) is refused. */
const paymentTransitions: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  pending: ["authorized", "paid", "failed"],
  authorized: ["paid", "failed"],
  paid: ["refunded"],
  failed: [],
  refunded: [],
};

function updatePaymentStatus({ data }: UpdatePaymentStatus, order: Order): OrderEvent[] {
  const from = order.paymentStatus;
  const to = data.status;
  if (!paymentTransitions[from].includes(to)) {
    throw new BusinessRuleError(`order ${order.orderId}: payment cannot change from ${from} to ${to}`);
  }
  if (order.status === "cancelled" && !(from === "paid" && to === "refunded")) {
    throw new BusinessRuleError(
      `order ${order.orderId} is cancelled: the only payment change allowed is paid to refunded`,
    );
  }
  const payment: PaymentData = { amountMinor: data.amountMinor, paymentReference: data.paymentReference };
  switch (to) {
    case "authorized":
      requireAmount(order, to, data.amountMinor, order.totalMinor, "the order total");
      return [{ type: "PaymentAuthorized", data: payment }];
    case "paid":
      requireAmount(order, to, data.amountMinor, order.totalMinor, "the order total");
      return [{ type: "PaymentReceived", data: payment }];
    case "failed":
      return [{ type: "PaymentFailed", data: payment }];
    case "refunded":
      requireAmount(order, to, data.amountMinor, order.paidMinor, "the paid amount");
      return [{ type: "PaymentRefunded", data: payment }];
    case "pending":
      // Unreachable: no transition leads to pending. Kept so the switch stays exhaustive.
      throw new BusinessRuleError(`order ${order.orderId}: payment cannot change from ${from} to ${to}`);
    default: {
      const unknown: never = to;
      throw new Error(`unknown payment status ${String(unknown)}`);
    }
  }
}

function requireAmount(order: Order, to: PaymentStatus, amount: number, required: number, what: string): void {
  if (amount !== required) {
    throw new BusinessRuleError(
      `order ${order.orderId}: a ${to} payment must be ${what} (${required} minor units), not ${amount}`,
    );
  }
}

function shipOrder({ data }: ShipOrder, order: Order): [OrderShipped] {
  if (order.status !== "paid") {
    throw new BusinessRuleError(`order ${order.orderId} is ${order.status}: only a paid order can be shipped`);
  }
  return [{ type: "OrderShipped", data: { carrier: data.carrier, trackingNumber: data.trackingNumber } }];
}

function cancelOrder({ data }: CancelOrder, order: Order): [OrderCancelled] {
  if (order.status !== "placed" && order.status !== "paid") {
    throw new BusinessRuleError(
      `order ${order.orderId} is ${order.status}: only a placed or paid order can be cancelled`,
    );
  }
  return [{ type: "OrderCancelled", data: { reason: data.reason } }];
}
