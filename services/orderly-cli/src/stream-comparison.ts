import { jetstream } from "@nats-io/jetstream";
import { type OrdersStreamStatus, readOrdersStreamStatus, readStreamHeaders } from "@orderly/event-bus";
import type { RecordedEvent } from "@orderly/eventsourcing";
import type { CliContext } from "./context.js";

// The stream's side of `verify`: its messages, read by their headers, walked beside the store's events.

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

const emptyStreamCounts = (): Record<StreamDifferenceKind, number> => ({
  different: 0,
  phantom: 0,
  missing: 0,
  "out-of-order": 0,
  duplicate: 0,
});

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
export class StreamWalker {
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

export function streamFindings(stream: StreamComparison | { error: string }): string[] {
  if ("error" in stream) return [`stream: could not be read (${stream.error})`];
  const findings: string[] = [];
  for (const [kind, count] of Object.entries(stream.counts)) {
    if (count > 0) findings.push(`stream ${stream.stream}: ${count} ${kind}`);
  }
  return findings;
}
