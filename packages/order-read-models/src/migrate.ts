import { runMigrations } from "@orderly/event-store-postgres";
import type pg from "pg";

/** Creates `projection_checkpoints` and `order_summaries` (idempotent, shares the event store's runner). */
export async function migrateReadModels(pool: pg.Pool): Promise<void> {
  await runMigrations(pool, { component: "order-read-models", directory: new URL("../migrations/", import.meta.url) });
}
