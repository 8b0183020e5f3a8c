import { eventStoreContract } from "@orderly/eventsourcing/testing";
import { PostgresEventStore } from "./postgres-event-store.js";
import { migratedDatabaseForFile } from "./test-database.js";

const db = migratedDatabaseForFile();

// One database for the file; each test starts from an empty store.
eventStoreContract("postgres", async () => {
  await db.pool.query("truncate events, processed_commands; update global_position set last = 0");
  return new PostgresEventStore(db.pool);
});

// Small batches: the same contract holds when a burst spans several transactions.
eventStoreContract("postgres, batches of 3", async () => {
  await db.pool.query("truncate events, processed_commands; update global_position set last = 0");
  return new PostgresEventStore(db.pool, { maxBatchSize: 3 });
});
