import { PostgresEventLog, readStoreStatus, type StoreStatus } from "@orderly/event-store-postgres";
import type { RecordedEvent } from "@orderly/eventsourcing";
import {
  foldBatch,
  type OrderSummaryView,
  type ReadModelSnapshot,
  readCustomerOrdersSnapshot,
  readOrderSummariesSnapshot,
  screenUnknown,
} from "@orderly/order-read-models";
import { type UnknownEventPolicy, unknownEventPolicy } from "@orderly/projector";
import type pg from "pg";
import type { CliContext } from "./context.js";
import { ReadModelComparer, type ReadModelComparison, readModelFindings } from "./read-model-comparison.js";
import { type StreamComparison, StreamWalker, scanStream, streamFindings } from "./stream-comparison.js";

// The comparison behind `verify` (and the plan of `recover`): one pass over the event store, folding it and walking the
// stream's messages beside it, with the read models compared when the fold reaches their checkpoints.

export interface ConsistencyReport {
  readonly namespace: string;
  readonly store: StoreStatus;
  /** Events folded from the store. */
  readonly events: number;
  /** Problems in the store itself (an event the fold cannot apply). */
  readonly storeProblems: readonly string[];
  readonly stream: StreamComparison | { readonly error: string };
  readonly readModels: readonly (ReadModelComparison | { readonly name: string; readonly error: string })[];
  readonly findings: readonly string[];
  readonly seconds: number;
  /** Seconds per part: reading the stream, each read model, folding the store (the first three overlap). */
  readonly timings: Readonly<Record<string, number>>;
}

export interface CheckOptions {
  /** Examples kept per component (default 20). */
  readonly limit?: number;
  /** Compare the read models (default true; recover plans without them). */
  readonly readModels?: boolean;
}
type ReadModelRead = ReadModelSnapshot | { readonly name: string; readonly error: string };
type Timed = <T>(name: string, work: Promise<T>) => Promise<T>;

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Compares the stream and both read models with the event store. Throws only when the store cannot be read. */
export async function checkConsistency(context: CliContext, options: CheckOptions = {}): Promise<ConsistencyReport> {
  const started = performance.now();
  const limit = options.limit ?? 20;
  const pool = await context.pool();
  const { namespace } = context.stack;

  const timings: Record<string, number> = {};
  const timed: Timed = (name, work) => {
    const begun = performance.now();
    return work.finally(() => {
      timings[name] = Math.round(performance.now() - begun) / 1000;
    });
  };
  const streamScan = timed("stream", scanStream(context)).catch((error: unknown) => ({ error: message(error) }));
  const snapshots = options.readModels === false ? [] : await readSnapshots(context, pool, timed);
  const scanned = await streamScan;
  // The store is read after the read models and the stream: a projector or the relay only ever takes an event the store
  // already holds, so under live load every sound checkpoint and message stands at or below the head read now. (Read
  // before them, the head lagged behind what they reached meanwhile, and verify took live progress for checkpoints
  // ahead of the store and for phantom rows.)
  const store = await readStoreStatus(pool);

  const walker = "error" in scanned ? undefined : new StreamWalker(scanned.status, scanned.entries, limit);
  const comparers = snapshots.map((s) => ("error" in s ? s : new ReadModelComparer(s, store, limit)));
  const stops = comparers
    .filter((c): c is ReadModelComparer => c instanceof ReadModelComparer)
    .sort((a, b) => a.comparedAt - b.comparedAt);

  const storeProblems: string[] = [];
  const foldStarted = performance.now();
  const events = await foldStore(context, pool, store, walker, stops, storeProblems);
  timings.fold = Math.round(performance.now() - foldStarted) / 1000;

  const stream = walker ? walker.finish(store.lastEventPosition) : (scanned as { error: string });
  const readModels = comparers.map((c) => (c instanceof ReadModelComparer ? c.result() : c));
  const findings = [
    ...storeProblems.slice(0, limit).map((p) => `store: ${p}`),
    ...streamFindings(stream),
    ...readModels.flatMap(readModelFindings),
  ];
  return {
    namespace,
    store,
    events,
    storeProblems: storeProblems.slice(0, limit),
    stream,
    readModels,
    findings,
    seconds: (performance.now() - started) / 1000,
    timings,
  };
}

/** Both read models as they stand (a read model that cannot be read is an error entry, not a throw). */
function readSnapshots(context: CliContext, pool: pg.Pool, timed: Timed): Promise<ReadModelRead[]> {
  return Promise.all([
    timed("order_summaries", readOrderSummariesSnapshot(pool)).catch((error: unknown) => ({
      name: "order_summaries",
      error: message(error),
    })),
    context
      .redis()
      .then((redis) => timed("customer_orders", readCustomerOrdersSnapshot(redis, context.stack.namespace)))
      .catch((error: unknown) => ({ name: "customer_orders", error: message(error) })),
  ]);
}

/**
 * Folds the store from its first event, showing each event to the stream walker and the read model comparers, and each
 * comparer the fold once it reaches its checkpoint (`stops`, in checkpoint order). Returns the events folded.
 */
async function foldStore(
  context: CliContext,
  pool: pg.Pool,
  store: StoreStatus,
  walker: StreamWalker | undefined,
  stops: readonly ReadModelComparer[],
  storeProblems: string[],
): Promise<number> {
  const summaries = new Map<string, OrderSummaryView>();
  // The fold reads unknown event types as the projectors are configured to (PROJECTOR_UNKNOWN_EVENT_TYPES): a store
  // holding a type this release does not know is consistent with read models that skipped it.
  const unknownTypes = unknownEventPolicy(context.unknownEventTypes, { projection: "verify", logger: context.logger });
  const eventLog = new PostgresEventLog(pool);
  const progress = context.progress("folding the event store", store.lastEventPosition);
  let events = 0;
  let stop = 0;
  const compareDue = (upTo: number) => {
    while (stop < stops.length && (stops[stop] as ReadModelComparer).comparedAt <= upTo) {
      (stops[stop] as ReadModelComparer).compare(summaries);
      stop++;
    }
  };
  let at = 0;
  compareDue(0);
  let next = eventLog.readAll(0, 5000);
  for (;;) {
    const page = await next;
    const last = page[page.length - 1];
    if (!last) break;
    next = eventLog.readAll(last.position, 5000);
    for (const event of page) {
      compareDue(event.position - 1);
      walker?.storeEvent(event);
      for (const comparer of stops) comparer.storeEvent(event);
      fold(summaries, event, storeProblems, unknownTypes);
      events++;
    }
    at = last.position;
    progress.update(at);
  }
  await next.catch(() => undefined);
  compareDue(Number.MAX_SAFE_INTEGER);
  progress.stop();
  return events;
}

/** One event onto the fold, as a projector folds a batch (stop: an unknown type is a problem; skip: passed over). */
function fold(
  summaries: Map<string, OrderSummaryView>,
  event: RecordedEvent,
  problems: string[],
  unknownTypes: UnknownEventPolicy,
): void {
  try {
    for (const [orderId, summary] of foldBatch(summaries, screenUnknown([event], unknownTypes), unknownTypes))
      summaries.set(orderId, summary);
  } catch (error) {
    problems.push(`position ${event.position}: ${(error as Error).message}`);
  }
}
