import { CUSTOMER_ORDERS } from "./versions.js";

/**
 * The key names of `customer_orders` in Redis (the layout is described in customer-orders-layout.ts). Every key starts with
 * the hash tag `{<namespace>}`: on a Redis Cluster all of a namespace's keys share one slot, so each script (a batch
 * touches many customers' keys, the checkpoint and the generation pointer at once) runs on one node, atomically. A
 * namespace's read model is therefore one slot's worth of one master; namespaces spread over the cluster
 * (docs/scaling.md: the partitioned design past that).
 */
export function customerOrdersKeys(namespace: string) {
  const prefix = `{${namespace}}:${CUSTOMER_ORDERS}`;
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

/**
 * A script definition for ioredis whose first argument (the prefix or a generation's `g`, inside the hash tag) is
 * declared as its key: a Redis Cluster client routes the script to the node that owns the namespace's slot, and Redis
 * accepts the undeclared keys the script builds from it because they hash to the same slot. The script itself still
 * reads that argument as `ARGV[1]`.
 */
export function slotScript(lua: string): { numberOfKeys: 1; lua: string } {
  return { numberOfKeys: 1, lua: `local ARGV = {KEYS[1], unpack(ARGV)}\n${lua}` };
}
