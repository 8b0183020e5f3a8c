import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import { createTestEnvironment } from "@orderly/testing";
import { describeCommandPipeline } from "./test-pipeline-suite.js";

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
