import type { OrderStatus, PaymentStatus } from "./status.js";

/** The decider's view of an order: nothing yet, or an order in one of its statuses. */
export type OrderState = NoOrder | Order;

export interface NoOrder {
  readonly status: "none";
}

export interface Order {
  readonly status: OrderStatus;
  readonly orderId: string;
  readonly customerId: string;
  readonly currency: string;
  readonly paymentStatus: PaymentStatus;
  /** Sum of quantity × unit price, minor units. */
  readonly totalMinor: number;
  /** Amount received (PaymentReceived), minor units; 0 before. */
  readonly paidMinor: number;
}

export const initialOrderState = (): OrderState => noOrder;

const noOrder: NoOrder = { status: "none" };

export const orderExists = (state: OrderState): state is Order => state.status !== "none";
