import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { readStreamEvents } from "@orderly/event-bus";
import { PostgresEventStore, StoreRecovery } from "@orderly/event-store-postgres";
import type { AppendRequest } from "@orderly/eventsourcing";
import type { CliContext } from "./context.js";
import type { LostEvent, RecoveryReport } from "./recovery-report.js";
import type { StreamComparison, StreamEntry } from "./stream-comparison.js";

// The events the store lost (stream messages it does not hold): saved to the recovery report before anything can
// delete them, and on `recover --reappend` appended again as new events.

/** Reads the bodies of the lost messages (before the stream is purged) for the report and `--reappend`. */
export async function readLost(
  context: CliContext,
  lost: readonly StreamEntry[],
  stream: StreamComparison,
): Promise<LostEvent[]> {
  const js = jetstream(await context.nats());
  const wanted = new Map(lost.map((e) => [e.seq, e]));
  const result: LostEvent[] = [];
  const progress = context.progress("saving the lost events", lost.length);
  for (const [fromSeq, toSeq] of seqRanges(lost.map((e) => e.seq))) {
    for await (const { seq, event } of readStreamEvents(js, stream.stream, { fromSeq, toSeq })) {
      const entry = wanted.get(seq);
      if (!entry) continue;
      progress.increment();
      result.push({
        position: event.position,
        seq,
        eventId: event.metadata.eventId,
        orderId: event.streamId.replace(/^order-/, ""),
        streamId: event.streamId,
        streamVersion: event.streamVersion,
        type: event.type,
        data: event.data,
        commandId: event.metadata.commandId,
        correlationId: event.metadata.correlationId,
        causationId: event.metadata.causationId,
        occurredAt: event.metadata.occurredAt.toISOString(),
        committedAt: event.committedAt.toISOString(),
      });
    }
  }
  progress.stop();
  return result;
}

function seqRanges(seqs: readonly number[]): [number, number][] {
  const sorted = [...seqs].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const seq of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && seq === last[1] + 1) last[1] = seq;
    else ranges.push([seq, seq]);
  }
  return ranges;
}

export function mergeLost(previous: readonly LostEvent[], found: readonly LostEvent[]): LostEvent[] {
  const byId = new Map(previous.map((e) => [e.eventId, e]));
  for (const e of found) byId.set(e.eventId, e);
  return [...byId.values()].sort((a, b) => a.position - b.position);
}

/**
 * Appends the lost events of every order that nobody touched since (its version in the store is the one its first
 * lost event followed) as new events: new ids (the causation id names the lost event), new positions, the same
 * command and correlation ids. An order already re-appended (an event caused by a lost one exists) is skipped.
 */
export async function reappend(
  context: CliContext,
  lost: readonly LostEvent[],
  previous: RecoveryReport["reappended"],
): Promise<RecoveryReport["reappended"]> {
  const pool = await context.pool();
  const recovery = new StoreRecovery(pool);
  const store = new PostgresEventStore(pool);
  const byStream = new Map<string, LostEvent[]>();
  for (const e of lost) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e]);
  const versions = await recovery.streamVersions([...byStream.keys()]);
  const caused = await recovery.causedBy(lost.map((e) => e.eventId));
  const outcomes = new Map(previous.map((r) => [r.streamId, r]));
  for (const [streamId, events] of byStream) {
    events.sort((a, b) => a.streamVersion - b.streamVersion);
    const first = events[0] as LostEvent;
    const version = versions.get(streamId) ?? 0;
    const outcome = (text: string, position?: number) =>
      outcomes.set(streamId, {
        streamId,
        orderId: first.orderId,
        events: events.length,
        outcome: text,
        ...(position === undefined ? {} : { position }),
      });
    if (events.some((e) => caused.has(e.eventId))) {
      outcome("already re-appended");
      continue;
    }
    const contiguous = events.every((e, i) => e.streamVersion === first.streamVersion + i);
    if (!contiguous || first.streamVersion !== version + 1) {
      outcome(
        `skipped: the order is at version ${version} in the store, its lost events start at ${first.streamVersion}`,
      );
      continue;
    }
    try {
      outcome("appended", (await store.append(appendAgain(streamId, version, events))).position);
    } catch (error) {
      outcome(`skipped: ${(error as Error).message}`);
    }
  }
  return [...outcomes.values()];
}

/** The append of a stream's lost events as new events: new ids, caused by the lost ones, the same command ids. */
function appendAgain(streamId: string, version: number, events: readonly LostEvent[]): AppendRequest {
  return {
    streamId,
    expectedVersion: version === 0 ? "no_stream" : version,
    events: events.map((e) => ({
      event: { type: e.type, data: e.data },
      metadata: {
        eventId: randomUUID(),
        commandId: e.commandId,
        correlationId: e.correlationId,
        causationId: e.eventId,
        occurredAt: new Date(e.occurredAt),
      },
    })),
  };
}
