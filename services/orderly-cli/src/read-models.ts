import {
  CUSTOMER_ORDERS,
  ORDER_SUMMARIES,
  rebuildCustomerOrders,
  rebuildOrderSummaries,
} from "@orderly/order-read-models";
import { type RebuildProgress, type RebuildResult, unknownEventPolicy } from "@orderly/projector";
import type { CliContext } from "./context.js";
import type { Progress } from "./progress.js";

/** The read models the CLI can rebuild, by the names `rebuild <read-model>` takes. */
export const READ_MODELS = [ORDER_SUMMARIES, CUSTOMER_ORDERS] as const;
export type ReadModelName = (typeof READ_MODELS)[number];

export function isReadModelName(name: string): name is ReadModelName {
  return (READ_MODELS as readonly string[]).includes(name);
}

/**
 * The zero-downtime rebuild of @orderly/order-read-models (bulk fold into a shadow, verify, swap), with a progress bar;
 * an event type this release does not know stops it or is skipped (one warning per type), as PROJECTOR_UNKNOWN_EVENT_TYPES
 * says, as in the projector processes.
 */
export async function rebuildReadModel(context: CliContext, name: ReadModelName): Promise<RebuildResult> {
  const pool = await context.pool();
  let bar: Progress | undefined;
  let phase = "";
  const onProgress = (p: RebuildProgress) => {
    if (p.phase !== phase) {
      bar?.stop();
      phase = p.phase;
      bar = p.phase === "done" ? undefined : context.progress(`${name}: ${p.phase}`, Math.max(1, p.total));
    }
    bar?.setTotal(Math.max(1, p.total));
    bar?.update(p.done);
  };
  const unknownTypes = unknownEventPolicy(context.unknownEventTypes, { projection: name, logger: context.logger });
  try {
    return name === ORDER_SUMMARIES
      ? await rebuildOrderSummaries(pool, { onProgress, unknownTypes })
      : await rebuildCustomerOrders(await context.redis(), context.stack.namespace, pool, { onProgress, unknownTypes });
  } finally {
    bar?.stop();
  }
}
