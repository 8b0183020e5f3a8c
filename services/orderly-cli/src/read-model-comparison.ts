import type { RetiredRange, StoreStatus } from "@orderly/event-store-postgres";
import type { RecordedEvent } from "@orderly/eventsourcing";
import { canonicalSummary, type OrderSummaryView, type ReadModelSnapshot } from "@orderly/order-read-models";

// A read model's side of `verify`: its rows compared with the fold of the store when the fold reaches its checkpoint.

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

export class ReadModelComparer {
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

export function readModelFindings(model: ReadModelComparison | { name: string; error: string }): string[] {
  if ("error" in model) return [`${model.name}: could not be read (${model.error})`];
  const findings: string[] = [];
  if (model.checkpointProblem) findings.push(`${model.name}: ${model.checkpointProblem}`);
  if (model.keyProblem) findings.push(`${model.name}: ${model.keyProblem}`);
  for (const [kind, count] of Object.entries(model.counts)) {
    if (count > 0) findings.push(`${model.name}: ${count} ${kind} order(s)`);
  }
  return findings;
}
