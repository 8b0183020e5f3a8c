import { jetstream } from "@nats-io/jetstream";
import { type OrdersStreamStatus, readOrdersStreamStatus, readStreamHeaders } from "@orderly/event-bus";
import { PostgresEventLog, type RetiredRange, readStoreStatus, type StoreStatus } from "@orderly/event-store-postgres";
import type { RecordedEvent } from "@orderly/eventsourcing";
import {
  canonicalSummary,
  evolveSummary,
  type OrderSummaryView,
  orderIdOf,
  type ReadModelSnapshot,
  readCustomerOrdersSnapshot,
  readOrderSummariesSnapshot,
} from "@orderly/order-read-models";
import type { CliContext } from "./context.js";

// The comparison behind `verify` (and the plan of `recover`): one pass over the event store, folding it and walking the
// stream's messages beside it, with the read models compared when the fold reaches their checkpoints.

/** A message of the stream, as its headers describe it. */
export interface StreamEntry {
  readonly seq: number;
  readonly position: number;
  readonly eventId: string;
  readonly streamId: string;
  readonly type: string;
}

export type StreamDifferenceKind =
  /** The stream holds another event at a position the store holds. */
  | "different"
  /** The stream holds an event at a position where the store holds none (beyond its last event, or retired). */
  | "phantom"
  /** The store's event is not on the stream although the stream covers its position. */
  | "missing"
  /** Two messages for one position, or positions going backwards. */
  | "out-of-order"
  /** The same event id twice. */
  | "duplicate";

export interface StreamDifference {
  readonly kind: StreamDifferenceKind;
  readonly position: number;
  readonly seq?: number;
  readonly streamEventId?: string;
  readonly storeEventId?: string;
}

export interface StreamComparison {
  readonly stream: string;
  readonly exists: boolean;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly messages: number;
  /** Position of the stream's last message (0 when empty). */
  readonly tailPosition: number;
  /** Store events after the stream's last message: the relay's lag, not a difference. */
  readonly unpublished: number;
  /** Store events below the stream's first message while the stream dropped old messages (max_age). */
  readonly agedOut: number;
  readonly counts: Readonly<Record<StreamDifferenceKind, number>>;
  /** The first differences (bounded by `limit`). */
  readonly examples: readonly StreamDifference[];
  /** Every stream message the store does not hold (phantom or different): the events the store lost. */
  readonly lost: readonly StreamEntry[];
  /** The stream's messages after the store's last event, when they continue it exactly (refill candidates). */
  readonly matchesStorePrefix: boolean;
}

export type ReadModelDifferenceKind = "missing" | "phantom" | "different" | "listing";

export interface ReadModelComparison {
  readonly name: string;
  readonly checkpoint: number;
  readonly eventId: string | undefined;
  readonly storeId: string | undefined;
  /** The position the fold was compared at: the checkpoint, or the store's last event when it is ahead. */
  readonly comparedAt: number;
  /** Store events after the checkpoint: lag, not a difference. */
  readonly lag: number;
  readonly rows: number;
  readonly expectedRows: number;
  /** Orders the projector wrote while Redis was read (skipped, not counted as differences). */
  readonly movedWhileReading: number;
  readonly counts: Readonly<Record<ReadModelDifferenceKind, number>>;
  /** What is wrong with the checkpoint itself (ahead of the store, on another event, from another store). */
  readonly checkpointProblem: string | undefined;
  /** Redis: what is amiss in the generation's own bookkeeping (counts, index, entry counts, mark, a writer's flag). */
  readonly keyProblem?: string;
  readonly examples: readonly { kind: ReadModelDifferenceKind; orderId: string; detail: string }[];
}

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

const emptyStreamCounts = (): Record<StreamDifferenceKind, number> => ({
  different: 0,
  phantom: 0,
  missing: 0,
  "out-of-order": 0,
  duplicate: 0,
});

/** Compares the stream and both read models with the event store. Throws only when the store cannot be read. */
export async function checkConsistency(context: CliContext, options: CheckOptions = {}): Promise<ConsistencyReport> {
  const started = performance.now();
  const limit = options.limit ?? 20;
  const pool = await context.pool();
  const { namespace } = context.stack;
  const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

  const timings: Record<string, number> = {};
  const timed = <T>(name: string, work: Promise<T>): Promise<T> => {
    const begun = performance.now();
    return work.finally(() => {
      timings[name] = Math.round(performance.now() - begun) / 1000;
    });
  };
  const streamScan = timed("stream", scanStream(context)).catch((error: unknown) => ({ error: message(error) }));
  const snapshots =
    options.readModels === false
      ? []
      : await Promise.all([
          timed("order_summaries", readOrderSummariesSnapshot(pool)).catch((error: unknown) => ({
            name: "order_summaries",
            error: message(error),
          })),
          context
            .redis()
            .then((redis) => timed("customer_orders", readCustomerOrdersSnapshot(redis, namespace)))
            .catch((error: unknown) => ({ name: "customer_orders", error: message(error) })),
        ]);
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
  const summaries = new Map<string, OrderSummaryView>();
  const eventLog = new PostgresEventLog(pool);
  const foldStarted = performance.now();
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
      fold(summaries, event, storeProblems);
      events++;
    }
    at = last.position;
    progress.update(at);
  }
  await next.catch(() => undefined);
  compareDue(Number.MAX_SAFE_INTEGER);
  progress.stop();
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

function fold(summaries: Map<string, OrderSummaryView>, event: RecordedEvent, problems: string[]): void {
  try {
    const orderId = orderIdOf(event);
    summaries.set(orderId, evolveSummary(summaries.get(orderId), event));
  } catch (error) {
    problems.push(`position ${event.position}: ${(error as Error).message}`);
  }
}

/** Reads the stream's headers, first to last message (the last as of the start of the read). */
export async function scanStream(context: CliContext): Promise<{ status: OrdersStreamStatus; entries: StreamEntry[] }> {
  const jsm = await context.jsm();
  const status = await readOrdersStreamStatus(jsm, context.stack.namespace);
  if (!status.exists || status.messages === 0) return { status, entries: [] };
  const js = jetstream(await context.nats());
  const progress = context.progress("reading the stream", status.lastSeq - status.firstSeq + 1);
  const entries: StreamEntry[] = [];
  try {
    for await (const entry of readStreamHeaders(js, status.stream, {
      fromSeq: status.firstSeq,
      toSeq: status.lastSeq,
    })) {
      entries.push(entry);
      if (entries.length % 1000 === 0) progress.update(entries.length);
    }
  } finally {
    progress.update(entries.length);
    progress.stop();
  }
  return { status, entries };
}

/** Walks the stream's messages (in sequence order) beside the store's events (in position order). */
class StreamWalker {
  readonly #counts = emptyStreamCounts();
  readonly #examples: StreamDifference[] = [];
  readonly #lost: StreamEntry[] = [];
  #j = 0;
  #unpublished = 0;
  #agedOut = 0;
  readonly #entries: StreamEntry[];
  readonly #firstPosition: number;
  readonly #tailPosition: number;
  readonly #agedStream: boolean;
  /** Every store event up to the last one matched so far equals the stream's (no difference yet). */
  #prefixSoFar = true;

  constructor(
    private readonly status: OrdersStreamStatus,
    entries: StreamEntry[],
    private readonly limit: number,
  ) {
    // Order problems first: the walk below needs positions that only go up.
    const seen = new Set<string>();
    const ordered: StreamEntry[] = [];
    let previous = 0;
    for (const entry of entries) {
      if (seen.has(entry.eventId)) {
        this.#note({ kind: "duplicate", position: entry.position, seq: entry.seq, streamEventId: entry.eventId });
        continue;
      }
      seen.add(entry.eventId);
      if (!(entry.position > previous)) {
        this.#note({ kind: "out-of-order", position: entry.position, seq: entry.seq, streamEventId: entry.eventId });
        continue;
      }
      previous = entry.position;
      ordered.push(entry);
    }
    this.#entries = ordered;
    this.#firstPosition = ordered[0]?.position ?? 0;
    this.#tailPosition = ordered[ordered.length - 1]?.position ?? 0;
    this.#agedStream = status.exists && status.firstSeq > 1;
  }

  storeEvent(event: RecordedEvent): void {
    const entries = this.#entries;
    while (this.#j < entries.length && (entries[this.#j] as StreamEntry).position < event.position) {
      this.#phantom(entries[this.#j] as StreamEntry);
      this.#j++;
    }
    const entry = entries[this.#j];
    if (entry !== undefined && entry.position === event.position) {
      if (entry.eventId !== event.metadata.eventId) {
        this.#note({
          kind: "different",
          position: entry.position,
          seq: entry.seq,
          streamEventId: entry.eventId,
          storeEventId: event.metadata.eventId,
        });
        this.#lost.push(entry);
        this.#prefixSoFar = false;
      }
      this.#j++;
      return;
    }
    if (event.position > this.#tailPosition) this.#unpublished++;
    else if (event.position < this.#firstPosition && this.#agedStream) this.#agedOut++;
    else {
      this.#note({ kind: "missing", position: event.position, storeEventId: event.metadata.eventId });
      this.#prefixSoFar = false;
    }
  }

  finish(storeLast: number): StreamComparison {
    const beyond = this.#entries.length - this.#j;
    // The stream continues the store when nothing differed and what follows the store's last event starts right
    // after it (the store lost a tail the stream still holds).
    const next = this.#entries[this.#j];
    const continues = beyond === 0 || next?.position === storeLast + 1;
    const consecutive = this.#entries
      .slice(this.#j)
      .every((e, i, all) => i === 0 || e.position === (all[i - 1] as StreamEntry).position + 1);
    for (; this.#j < this.#entries.length; this.#j++) this.#phantom(this.#entries[this.#j] as StreamEntry, true);
    const status = this.status;
    return {
      stream: status.stream,
      exists: status.exists,
      firstSeq: status.exists ? status.firstSeq : 0,
      lastSeq: status.exists ? status.lastSeq : 0,
      messages: status.exists ? status.messages : 0,
      tailPosition: this.#tailPosition,
      unpublished: this.#unpublished,
      agedOut: this.#agedOut,
      counts: this.#counts,
      examples: this.#examples,
      lost: this.#lost,
      matchesStorePrefix:
        this.#prefixSoFar && continues && consecutive && this.#counts.duplicate + this.#counts["out-of-order"] === 0,
    };
  }

  #phantom(entry: StreamEntry, beyondStore = false): void {
    this.#note({ kind: "phantom", position: entry.position, seq: entry.seq, streamEventId: entry.eventId });
    this.#lost.push(entry);
    if (!beyondStore) this.#prefixSoFar = false;
  }

  #note(difference: StreamDifference): void {
    this.#counts[difference.kind]++;
    if (this.#examples.length < this.limit) this.#examples.push(difference);
  }
}

class ReadModelComparer {
  readonly comparedAt: number;
  #checkpointProblem: string | undefined;
  readonly #counts: Record<ReadModelDifferenceKind, number> = { missing: 0, phantom: 0, different: 0, listing: 0 };
  readonly #examples: { kind: ReadModelDifferenceKind; orderId: string; detail: string }[] = [];
  #expectedRows = 0;
  #moved = 0;

  constructor(
    private readonly snapshot: ReadModelSnapshot,
    private readonly store: StoreStatus,
    private readonly limit: number,
  ) {
    const { mark } = snapshot;
    this.comparedAt = Math.min(mark.position, store.lastEventPosition);
    this.#checkpointProblem = checkpointProblem(snapshot, store);
    for (const p of snapshot.listProblems ?? []) this.#note("listing", p.orderId, p.problem);
  }

  /** Sees each store event: the one at the checkpoint must be the event the checkpoint names. */
  storeEvent(event: RecordedEvent): void {
    const { mark } = this.snapshot;
    if (event.position !== mark.position || mark.eventId === undefined || this.#checkpointProblem) return;
    if (event.metadata.eventId !== mark.eventId) {
      this.#checkpointProblem = `checkpoint ${mark.position} stands on event ${mark.eventId}, the store holds ${event.metadata.eventId} there`;
    }
  }

  /** Compares with the fold as it stands (every event up to `comparedAt` folded). */
  compare(expected: ReadonlyMap<string, OrderSummaryView>): void {
    const actual = this.snapshot.summaries;
    const at = this.comparedAt;
    const movedTo = this.snapshot.movedTo ?? at;
    for (const [orderId, want] of expected) {
      this.#expectedRows++;
      const got = actual.get(orderId);
      if (!got) {
        this.#note("missing", orderId, `expected ${canonicalSummary(want)}`);
        continue;
      }
      if (canonicalSummary(got) === canonicalSummary(want)) continue;
      if (got.lastPosition > at && got.lastPosition <= movedTo) this.#moved++;
      else this.#note("different", orderId, `has ${canonicalSummary(got)}, expected ${canonicalSummary(want)}`);
    }
    for (const [orderId, got] of actual) {
      if (expected.has(orderId)) continue;
      if (got.placedPosition > at && got.placedPosition <= movedTo) this.#moved++;
      else this.#note("phantom", orderId, `has ${canonicalSummary(got)}, the store has no such order`);
    }
  }

  result(): ReadModelComparison {
    const { mark } = this.snapshot;
    return {
      name: this.snapshot.name,
      checkpoint: mark.position,
      eventId: mark.eventId,
      storeId: mark.storeId,
      comparedAt: this.comparedAt,
      lag: Math.max(0, this.store.lastEventPosition - mark.position),
      rows: this.snapshot.summaries.size,
      expectedRows: this.#expectedRows,
      movedWhileReading: this.#moved,
      counts: this.#counts,
      checkpointProblem: this.#checkpointProblem,
      ...(this.snapshot.keyProblem !== undefined ? { keyProblem: this.snapshot.keyProblem } : {}),
      examples: this.#examples,
    };
  }

  #note(kind: ReadModelDifferenceKind, orderId: string, detail: string): void {
    this.#counts[kind]++;
    if (this.#examples.length < this.limit) this.#examples.push({ kind, orderId, detail });
  }
}

function inRetired(position: number, retired: readonly RetiredRange[]): boolean {
  return retired.some((r) => position >= r.first && position <= r.last);
}

/** A checkpoint is sound when it stands on the store's own event, on a retired position, or at 0. */
function checkpointProblem(snapshot: ReadModelSnapshot, store: StoreStatus): string | undefined {
  const { mark } = snapshot;
  if (mark.storeId !== undefined && store.storeId !== undefined && mark.storeId !== store.storeId) {
    return `checkpoint taken from store ${mark.storeId}, this store is ${store.storeId}`;
  }
  if (mark.position > store.head) {
    return `checkpoint ${mark.position} is ahead of the store (head ${store.head}): it saw events the store lost`;
  }
  if (mark.position > store.lastEventPosition && !inRetired(mark.position, store.retired)) {
    return `checkpoint ${mark.position} is past the store's last event ${store.lastEventPosition}`;
  }
  return undefined;
}

function streamFindings(stream: StreamComparison | { error: string }): string[] {
  if ("error" in stream) return [`stream: could not be read (${stream.error})`];
  const findings: string[] = [];
  for (const [kind, count] of Object.entries(stream.counts)) {
    if (count > 0) findings.push(`stream ${stream.stream}: ${count} ${kind}`);
  }
  return findings;
}

function readModelFindings(model: ReadModelComparison | { name: string; error: string }): string[] {
  if ("error" in model) return [`${model.name}: could not be read (${model.error})`];
  const findings: string[] = [];
  if (model.checkpointProblem) findings.push(`${model.name}: ${model.checkpointProblem}`);
  if (model.keyProblem) findings.push(`${model.name}: ${model.keyProblem}`);
  for (const [kind, count] of Object.entries(model.counts)) {
    if (count > 0) findings.push(`${model.name}: ${count} ${kind} order(s)`);
  }
  return findings;
}
