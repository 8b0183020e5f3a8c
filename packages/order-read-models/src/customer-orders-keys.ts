import { CUSTOMER_ORDERS } from "./versions.js";

/** The key names of `customer_orders` in Redis (the layout is described in customer-orders.ts). */
export function customerOrdersKeys(namespace: string) {
  const prefix = `${namespace}:${CUSTOMER_ORDERS}`;
  return {
    prefix,
    current: `${prefix}:current`,
    swapLock: `${prefix}:swap-lock`,
    channel: `${prefix}:checkpoint`,
    generation: (gen: string) => `${prefix}:g${gen}`,
  };
}

/** The names of one generation's keys (`g` = `<prefix>:g<N>`). */
export function generationKeys(g: string) {
  return {
    checkpoint: `${g}:checkpoint`,
    mark: `${g}:mark`,
    customers: `${g}:customers`,
    counts: `${g}:counts`,
    listed: `${g}:listed`,
    order: (orderId: string) => `${g}:o:${orderId}`,
    customer: (customerId: string) => `${g}:c:${customerId}`,
  };
}
