import type { OrderEvent } from "./events.js";
import { type OrderState, orderExists } from "./state.js";

/** Folds one event into the state. Total: an event that cannot apply (e.g. before OrderPlaced) changes nothing. */
export function evolve(state: OrderState, event: OrderEvent): OrderState {
  if (event.type === "OrderPlaced") {
    const { orderId, customerId, currency, totalMinor } = event.data;
    return { status: "placed", orderId, customerId, currency, totalMinor, paidMinor: 0, paymentStatus: "pending" };
  }
  if (!orderExists(state)) return state;
  switch (event.type) {
    case "PaymentAuthorized":
      return { ...state, paymentStatus: "authorized" };
    case "PaymentReceived":
      return { ...state, paymentStatus: "paid", status: "paid", paidMinor: event.data.amountMinor };
    case "PaymentFailed":
      return { ...state, paymentStatus: "failed" };
    case "PaymentRefunded":
      return { ...state, paymentStatus: "refunded" };
    case "OrderShipped":
      return { ...state, status: "shipped" };
    case "OrderCancelled":
      return { ...state, status: "cancelled" };
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
