// The gRPC calls and load loops of the query-service benchmark (query-bench.mjs): proto-loader clients for seeding
// and waiting, a closed loop that counts calls/s, and the open-loop command → visible measurement.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { CreateOrderRequestSchema, GetOrderSummaryRequestSchema } from "@orderly/contracts";
import { protoLoaderOptions } from "../../../scripts/bench-protos.mjs";

export const log = (...args) => process.stderr.write(`[query-bench] ${args.join(" ")}\n`);

export async function clients(ports) {
  const definition = await protoLoader.load(
    ["orderly/orders/v1/commands.proto", "orderly/orders/v1/queries.proto"],
    protoLoaderOptions,
  );
  const v1 = grpc.loadPackageDefinition(definition).orderly.orders.v1;
  return {
    commands: new v1.CommandService(`127.0.0.1:${ports.command}`, grpc.credentials.createInsecure()),
    queries: new v1.QueryService(`127.0.0.1:${ports.query}`, grpc.credentials.createInsecure()),
  };
}

export function unary(client, method, request, deadlineMs = 30_000) {
  return new Promise((resolveCall, reject) => {
    client[method](request, { deadline: Date.now() + deadlineMs }, (error, response) =>
      error ? reject(error) : resolveCall(response),
    );
  });
}

export async function createOrder(commands, customerId) {
  const response = await unary(commands, "CreateOrder", {
    idempotency_key: randomUUID(),
    customer_id: customerId,
    currency: "EUR",
    items: [{ sku: "SKU-1", quantity: 1, unit_price_minor: "999" }],
  });
  return response.accepted;
}

export async function waitReached(queries, position) {
  await new Promise((resolveWait, reject) => {
    const call = queries.WaitForPosition({ min_position: String(position) }, { deadline: Date.now() + 120_000 });
    let reached = false;
    call.on("data", (m) => {
      reached ||= m.reached;
    });
    call.on("error", reject);
    call.on("end", () => (reached ? resolveWait() : reject(new Error("stream ended without reached"))));
  });
}

/** `count` tasks, `concurrency` at a time. */
export async function pool(concurrency, count, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** Calls/s with `concurrency` calls always in flight for `durationSeconds` (after a short warm-up). */
export async function closedLoop(call, concurrency, durationSeconds) {
  const warmUntil = performance.now() + 500;
  const endAt = warmUntil + durationSeconds * 1_000;
  let done = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < endAt) {
        try {
          await call();
          if (performance.now() > warmUntil) done++;
        } catch (error) {
          if (++errors === 1) log(`error: ${error?.message ?? error}`);
        }
      }
    }),
  );
  if (errors > 0) log(`${errors} errors`);
  return done / durationSeconds;
}

/**
 * Open loop at `rate` commands/s: a `rywFraction` (0..1) of the CreateOrders, once accepted, is read back with
 * min_position = its position.
 */
export async function commandToVisible(commands, queryClient, pick, customers, rate, durationSeconds, rywFraction) {
  const latencies = [];
  let failures = 0;
  const pending = [];
  const started = performance.now();
  const total = Math.floor(rate * durationSeconds);
  let commandsDone = 0;
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1_000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      (async () => {
        try {
          const { accepted } = await unary(
            commands,
            "createOrder",
            create(CreateOrderRequestSchema, {
              idempotencyKey: randomUUID(),
              customerId: pick(customers),
              currency: "EUR",
              items: [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 999n }],
            }),
          );
          commandsDone++;
          // Read back an evenly spread fraction of the commands.
          if (Math.floor((i + 1) * rywFraction) === Math.floor(i * rywFraction)) return;
          const acceptedAt = performance.now();
          await unary(
            queryClient(),
            "getOrderSummary",
            create(GetOrderSummaryRequestSchema, { orderId: accepted.orderId, minPosition: accepted.position }),
          );
          latencies.push(performance.now() - acceptedAt);
        } catch (error) {
          if (++failures === 1) log(`visible error: ${error?.message ?? error}`);
        }
      })(),
    );
  }
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  const at = (q) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN, 2);
  return {
    commands: commandsDone,
    count: latencies.length,
    failures,
    p50: at(0.5),
    p99: at(0.99),
    max: round(latencies.at(-1) ?? Number.NaN, 2),
  };
}

export const round = (x, digits = 0) => Number((x ?? Number.NaN).toFixed(digits));
export const ratio = (a, b) => round(a / b, 2);
