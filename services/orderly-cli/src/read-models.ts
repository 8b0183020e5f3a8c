import {
  CUSTOMER_ORDERS,
  CustomerOrdersRebuild,
  ORDER_SUMMARIES,
  OrderSummariesRebuild,
  PostgresEventLog,
} from "@orderly/order-read-models";
import { type RebuildResult, rebuildProjection } from "@orderly/projector";
import type { CliContext } from "./context.js";

/** The read models the CLI can rebuild, by the names `rebuild <read-model>` takes. */
export const READ_MODELS = [ORDER_SUMMARIES, CUSTOMER_ORDERS] as const;
export type ReadModelName = (typeof READ_MODELS)[number];

export function isReadModelName(name: string): name is ReadModelName {
  return (READ_MODELS as readonly string[]).includes(name);
}

/** The zero-downtime rebuild of @orderly/order-read-models (shadow, verify, swap), with a progress bar. */
export async function rebuildReadModel(context: CliContext, name: ReadModelName): Promise<RebuildResult> {
  const pool = await context.pool();
  const eventLog = new PostgresEventLog(pool);
  const target =
    name === ORDER_SUMMARIES
      ? new OrderSummariesRebuild(pool, eventLog)
      : new CustomerOrdersRebuild(await context.redis(), context.stack.namespace, eventLog);
  return rebuildProjection(target, eventLog);
}
