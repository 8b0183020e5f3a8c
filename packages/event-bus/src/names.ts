/** JetStream names of one Orderly installation; `namespace` is ORDERLY_NAMESPACE (e.g. `orderly`, `t_1a2b3c4d`). */

const namespacePattern = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws unless `namespace` is usable both as a subject token and inside a stream name. */
export function assertNamespace(namespace: string): void {
  if (!namespacePattern.test(namespace)) {
    throw new Error(`invalid ORDERLY_NAMESPACE ${JSON.stringify(namespace)}: use 1-64 of [A-Za-z0-9_-]`);
  }
}

/** The orders stream: `<NAMESPACE upper-cased>_ORDERS`. */
export function streamName(namespace: string): string {
  assertNamespace(namespace);
  return `${namespace.toUpperCase()}_ORDERS`;
}

/** The subject of one event type: `<namespace>.orders.<EventType>`, so consumers can filter by type. */
export function subjectFor(namespace: string, eventType: string): string {
  assertNamespace(namespace);
  return `${namespace}.orders.${eventType}`;
}

/** Every subject of the orders stream: `<namespace>.orders.>`. */
export function ordersSubjects(namespace: string): string {
  assertNamespace(namespace);
  return `${namespace}.orders.>`;
}

/** Message headers set by the relay; they repeat envelope fields so a consumer can filter without decoding. */
export const headers = {
  /** JetStream de-duplication id: the event id. */
  msgId: "Nats-Msg-Id",
  /** Global position, decimal. */
  position: "Orderly-Position",
  /** Event stream id, `order-<uuid>`. */
  stream: "Orderly-Stream",
  /** Event type, e.g. `OrderPlaced`. */
  type: "Orderly-Type",
  /** When the appending transaction started, epoch milliseconds, decimal (the lag clock; not in the envelope). */
  committedAt: "Orderly-Committed-At",
  /** W3C trace context of the request that raised the event; absent when none came in. */
  traceparent: "traceparent",
} as const;
