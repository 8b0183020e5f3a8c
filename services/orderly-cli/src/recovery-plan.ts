import { eventIdsAt, type StoreStatus } from "@orderly/event-store-postgres";
import type { ReadModelMark } from "@orderly/order-read-models";
import { CommandFailedError } from "./command.js";
import type { CliContext } from "./context.js";
import { type ReadModelMarks, readMarks } from "./read-model-checkpoints.js";
import type { ReadModelName } from "./read-models.js";
import type { RecoveryReport } from "./recovery-report.js";
import { RELAY } from "./republish.js";
import type { StreamComparison, StreamEntry } from "./stream-comparison.js";

// What `recover` will do, decided from what it finds (docs/adr/0011-recovery.md): refill, reset or leave the stream,
// which positions to retire, which read models to rebuild, whether the relay's checkpoint stands.

export type Mode = "auto" | "refill" | "reset";

export interface Plan {
  readonly mode: "none" | "refill" | "reset";
  readonly why: string;
  readonly storeLast: number;
  /** Stream messages to copy back into the store (refill). */
  readonly refill: { readonly fromSeq: number; readonly toSeq: number; readonly count: number } | undefined;
  /** The highest position anything downstream saw: positions above the store's last event up to it are retired. */
  readonly maxSeen: number;
  readonly rebuild: readonly { readonly name: ReadModelName; readonly why: string }[];
  readonly lost: readonly StreamEntry[];
  readonly relayCheckpoint: { readonly position: number; readonly sound: boolean };
}

export async function makePlan(
  context: CliContext,
  store: StoreStatus,
  stream: StreamComparison,
  mode: Mode,
  previous: RecoveryReport | undefined,
): Promise<Plan> {
  const pool = await context.pool();
  const storeLast = store.lastEventPosition;
  const streamAhead = stream.tailPosition > storeLast;
  const { chosen, why } = chooseMode(stream, storeLast, mode, previous);
  const refill =
    chosen === "refill"
      ? (() => {
          const first = stream.lost[0] as StreamEntry;
          const last = stream.lost[stream.lost.length - 1] as StreamEntry;
          return { fromSeq: first.seq, toSeq: last.seq, count: stream.lost.length };
        })()
      : undefined;
  const afterRefill = refill ? stream.tailPosition : storeLast;

  const marks = await readMarks(context);
  const ids = await eventIdsAt(
    pool,
    marks.flatMap((m) => (m.marks ?? []).map((mark) => mark.position)),
  );
  const retired = (p: number) => store.retired.some((r) => p >= r.first && p <= r.last);
  const rebuild = readModelsToRebuild(marks, (mark, its) => {
    if (chosen === "reset") return "the store is the truth: every read model is rebuilt from it";
    if (mark.storeId !== undefined && mark.storeId !== store.storeId) return `${its} comes from store ${mark.storeId}`;
    if (mark.position > afterRefill && !(retired(mark.position) && mark.position === store.head))
      return `${its} ${mark.position} is past the store's last event ${afterRefill}`;
    if (mark.eventId !== undefined && mark.position <= storeLast && ids.get(mark.position) !== mark.eventId)
      return `${its} stands on event ${mark.eventId}, the store holds ${ids.get(mark.position) ?? "nothing"} at ${mark.position}`;
    return undefined;
  });
  const relay = store.relayCheckpoints.find((r) => r.name === RELAY);
  const relayPosition = relay?.position ?? 0;
  const relaySound =
    relayPosition <= afterRefill || (retired(relayPosition) && relayPosition === store.head && !streamAhead);
  const maxSeen = Math.max(
    stream.tailPosition,
    relayPosition,
    ...marks.flatMap((m) => (m.marks ?? []).map((mark) => mark.position)),
    ...marks.map((m) => m.highWater ?? 0),
  );
  return {
    mode: chosen,
    why,
    storeLast,
    refill,
    maxSeen,
    rebuild,
    lost: chosen === "reset" ? stream.lost : [],
    relayCheckpoint: { position: relayPosition, sound: relaySound },
  };
}

/** Refill when the store is a prefix of the stream, reset when it is not (or when asked), nothing when they agree. */
function chooseMode(
  stream: StreamComparison,
  storeLast: number,
  mode: Mode,
  previous: RecoveryReport | undefined,
): { chosen: Plan["mode"]; why: string } {
  const differences = Object.values(stream.counts).reduce((a, b) => a + b, 0);
  const canRefill = stream.matchesStorePrefix && stream.tailPosition > storeLast;
  if (mode === "reset") return { chosen: "reset", why: "asked for" };
  if (differences === 0) {
    // An interrupted reset leaves a stream that agrees but read models that may not: finish it.
    const chosen = previous?.status === "in-progress" && previous.mode === "reset" ? "reset" : "none";
    return { chosen, why: chosen === "reset" ? "finishing an interrupted reset" : "the stream agrees with the store" };
  }
  if (canRefill) {
    return {
      chosen: "refill",
      why: `the store is a prefix of the stream, which still holds positions ${storeLast + 1}-${stream.tailPosition}`,
    };
  }
  if (mode === "refill") {
    throw new CommandFailedError(
      "cannot refill: the store is not a prefix of the stream, or the stream no longer holds what the store lacks (use --mode reset)",
    );
  }
  return {
    chosen: "reset",
    why: stream.matchesStorePrefix
      ? "the stream no longer holds every event the store lacks"
      : `the store holds other events than the stream (${describeCounts(stream)})`,
  };
}

/**
 * The read models to rebuild: those with a checkpoint `problemOf` finds amiss. Every partition's checkpoint (ADR 0019)
 * is judged as an unpartitioned read model's is; one amiss rebuilds it all.
 */
function readModelsToRebuild(
  marks: readonly ReadModelMarks[],
  problemOf: (mark: ReadModelMark, its: string) => string | undefined,
): { name: ReadModelName; why: string }[] {
  const rebuild: { name: ReadModelName; why: string }[] = [];
  for (const { name, marks: partitions, error } of marks) {
    if (!partitions) throw new CommandFailedError(`${name} cannot be read: ${error}`);
    for (const [index, mark] of partitions.entries()) {
      const problem = problemOf(mark, partitions.length > 1 ? `its partition ${index}'s checkpoint` : "its checkpoint");
      if (problem) {
        rebuild.push({ name, why: problem });
        break;
      }
    }
  }
  return rebuild;
}

function describeCounts(stream: StreamComparison): string {
  return Object.entries(stream.counts)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(", ");
}

export function planJson(plan: Plan) {
  return {
    mode: plan.mode,
    why: plan.why,
    storeLast: plan.storeLast,
    refill: plan.refill ?? null,
    maxSeen: plan.maxSeen,
    rebuild: plan.rebuild,
    lost: plan.lost.length,
    relayCheckpoint: plan.relayCheckpoint,
  };
}

export function planText(plan: Plan): string {
  const lines = [`would ${plan.mode === "none" ? "change nothing in the stream" : plan.mode} (${plan.why})`];
  if (plan.refill) lines.push(`  copy ${plan.refill.count} event(s) back from the stream into the store`);
  if (plan.lost.length > 0) lines.push(`  list ${plan.lost.length} lost event(s) in the report file`);
  if (plan.maxSeen > plan.storeLast) lines.push(`  retire positions up to ${plan.maxSeen}`);
  for (const r of plan.rebuild) lines.push(`  rebuild ${r.name}: ${r.why}`);
  if (plan.mode === "reset") lines.push("  recreate the stream and republish it from the store");
  return lines.join("\n");
}
