import { PaymentStatus } from "@orderly/contracts";
import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import { UnavailableError } from "@orderly/eventsourcing";
import { createTestEnvironment, startTcpProxy } from "@orderly/testing";
import { describe, expect, it } from "vitest";
import { CommandPipeline } from "./command-pipeline.js";
import { describeCommandPipeline } from "./test-pipeline-suite.js";
import { createOrderRequest, paymentRequest } from "./test-requests.js";
import { toCreateOrder, toUpdatePaymentStatus } from "./to-command.js";

describeCommandPipeline("the Postgres store", async () => {
  const env = await createTestEnvironment();
  const pool = createPool(env.databaseUrl);
  await migrateEventStore(pool);
  const otherPool = createPool(env.databaseUrl);
  const store = new PostgresEventStore(pool);
  const otherStore = new PostgresEventStore(otherPool);
  return {
    store,
    otherStore,
    async close() {
      await store.close();
      await otherStore.close();
      await pool.end();
      await otherPool.end();
      await env.cleanup();
    },
  };
});

describe("CommandPipeline while Postgres is unreachable", () => {
  it("a command that reads its order first fails with UnavailableError, and succeeds once Postgres is back", async () => {
    const env = await createTestEnvironment();
    const proxy = await startTcpProxy({ port: Number(new URL(env.databaseUrl).port || 5432) });
    const pool = createPool(proxy.url(env.databaseUrl));
    try {
      await migrateEventStore(pool);
      // No cache: every command on an existing order reads its stream.
      const pipeline = new CommandPipeline(new PostgresEventStore(pool), { cacheSize: 0 });
      const call = { headers: {} };
      const created = await pipeline.execute(toCreateOrder(createOrderRequest(), call));
      const orderId = created.streamId.slice("order-".length);
      const pay = paymentRequest(orderId, PaymentStatus.PAID);

      await proxy.down();
      const error = await pipeline.execute(toUpdatePaymentStatus(pay, call)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnavailableError);
      const unknownOrder = paymentRequest(crypto.randomUUID(), PaymentStatus.PAID);
      await expect(pipeline.execute(toUpdatePaymentStatus(unknownOrder, call))).rejects.toBeInstanceOf(
        UnavailableError,
      );

      await proxy.up();
      const paid = await pipeline.execute(toUpdatePaymentStatus(pay, call));
      expect(paid).toMatchObject({ streamVersion: 2, duplicate: false });
    } finally {
      await pool.end();
      await proxy.close();
      await env.cleanup();
    }
  });
});
