import { randomUUID } from "node:crypto";
import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import { testMetadata } from "@orderly/eventsourcing/testing";
import { migrateReadModels, ORDER_SUMMARIES, OrderSummariesProjection } from "@orderly/order-read-models";
import { createTestEnvironment, type TestEnvironment } from "@orderly/testing";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK } from "./command.js";
import { READ_MODELS } from "./read-models.js";
import { orderlyIn } from "./testing-cli.js";

// `orderly rebuild` over a store holding an event of a type this release does not know (a newer one wrote it): it
// honours PROJECTOR_UNKNOWN_EVENT_TYPES as the projector processes do.

let env: TestEnvironment;
let pool: pg.Pool;
const orderId = randomUUID();

beforeAll(async () => {
  env = await createTestEnvironment();
  pool = createPool(env.databaseUrl, { max: 4 });
  await migrateEventStore(pool);
  await migrateReadModels(pool);
  const store = new PostgresEventStore(pool);
  const placed = { orderId, customerId: "c-1", currency: "EUR", items: [], totalMinor: 0 };
  await store.append({
    streamId: `order-${orderId}`,
    expectedVersion: "no_stream",
    events: [
      { event: { type: "OrderPlaced", data: placed }, metadata: testMetadata() },
      { event: { type: "OrderGiftWrapped", data: { paper: "gold" } }, metadata: testMetadata() },
      { event: { type: "OrderCancelled", data: { reason: "r" } }, metadata: testMetadata() },
    ],
  });
  await new OrderSummariesProjection(pool).checkpoint();
});

afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

describe("orderly rebuild and PROJECTOR_UNKNOWN_EVENT_TYPES", () => {
  it.each(READ_MODELS)("%s: unset (stop) refuses at the unknown type (exit 2)", async (model) => {
    const result = await orderlyIn(env.env, "rebuild", model, "--json");
    expect(result.code).toBe(EXIT_FAILED);
    expect(result.json().error).toMatch(/OrderGiftWrapped on order-.*: unknown event type/);
  });

  it.each(READ_MODELS)("%s: skip passes over it (one warning) and swaps the rebuilt model in", async (model) => {
    const result = await orderlyIn({ ...env.env, PROJECTOR_UNKNOWN_EVENT_TYPES: "skip" }, "rebuild", model, "--json");
    expect(result.code).toBe(EXIT_OK);
    expect(result.json()).toMatchObject({ projection: model, position: 3, verification: { rows: 1, expectedRows: 1 } });
    const warnings = result.stderr.split("\n").filter((line) => line.includes("skipping events of a type"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`"projection":"${model}","type":"OrderGiftWrapped","position":2`);
    if (model === ORDER_SUMMARIES) {
      const row = await pool.query("select status, version, last_position from order_summaries where order_id = $1", [
        orderId,
      ]);
      expect(row.rows).toEqual([{ status: "cancelled", version: 3, last_position: 3 }]);
    }
  });
  it("verify folds the store as configured: stop finds the unknown type a store problem, skip agrees with the rebuilt models", async () => {
    const stop = (await orderlyIn(env.env, "verify", "--json")).json();
    expect(stop.storeProblems).toContainEqual(
      expect.stringMatching(/^position 2: .*OrderGiftWrapped on order-.*: unknown event type/),
    );
    const skip = await orderlyIn({ ...env.env, PROJECTOR_UNKNOWN_EVENT_TYPES: "skip" }, "verify", "--json");
    expect(skip.code).toBe(EXIT_OK);
    const report = skip.json();
    expect(report.storeProblems).toEqual([]);
    expect(report.findings).toEqual([]);
    for (const model of report.readModels)
      expect(model).toMatchObject({ rows: 1, expectedRows: 1, counts: { missing: 0, phantom: 0, different: 0 } });
  });
});
