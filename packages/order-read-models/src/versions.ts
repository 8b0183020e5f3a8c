/**
 * Projection versions. Bump one when its handlers change what they write: the projector sees the stored version
 * differ on start and rebuilds that read model next to the live one (no downtime).
 */
export const ORDER_SUMMARIES_VERSION = 2; // 2: placed_by (issue 15)
export const CUSTOMER_ORDERS_VERSION = 3; // 3: placed_by in the order hashes (issue 15)

export const ORDER_SUMMARIES = "order_summaries";
export const CUSTOMER_ORDERS = "customer_orders";
