// What the plain @grpc/grpc-js baselines send (bench/plain-client.mjs over the network, bench/per-call-work.mjs
// without it): the CommandService as proto-loader loads it, and CreateOrder requests as its stub takes them.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import * as protoLoader from "@grpc/proto-loader";

/** The commands .proto as a plain grpc-js client loads it (the usual stub options). */
export function loadCommandsProto() {
  const root = fileURLToPath(new URL("../../../proto", import.meta.url));
  return protoLoader.loadSync("orderly/orders/v1/commands.proto", {
    includeDirs: [root],
    keepCase: false,
    longs: Number,
    enums: Number,
    defaults: true,
  });
}

/** A fresh CreateOrder request (proto-loader field names): a new idempotency key and order id, 1–3 items. */
export function requestFields(seq) {
  const items = [];
  const n = 1 + Math.floor(Math.random() * 3);
  for (let i = 0; i < n; i++) {
    items.push({
      sku: `SKU-${Math.floor(Math.random() * 5000)}`,
      quantity: 1 + Math.floor(Math.random() * 5),
      unitPriceMinor: 100 + Math.floor(Math.random() * 9900),
    });
  }
  return {
    idempotencyKey: `plain-${seq}`,
    orderId: randomUUID(),
    customerId: `customer-${Math.floor(Math.random() * 1000)}`,
    currency: "EUR",
    items,
  };
}
