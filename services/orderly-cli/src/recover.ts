import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { ordersBus, readOrdersStreamStatus, readStreamEvents, recreateOrdersStream } from "@orderly/event-bus";
import {
  eventIdsAt,
  PostgresEventStore,
  PostgresRelayStore,
  RelayFence,
  readStoreStatus,
  StoreContinuity,
  StoreRecovery,
  type StoreStatus,
} from "@orderly/event-store-postgres";
import {
  CUSTOMER_ORDERS,
  ORDER_SUMMARIES,
  type ReadModelMark,
  readCustomerOrdersPartitionMarks,
  readOrderSummariesPartitionMarks,
  setCustomerOrdersCheckpoint,
  setOrderSummariesCheckpoint,
} from "@orderly/order-read-models";
import { OutboxRelay } from "@orderly/outbox-relay";
import { InvalidArgumentError, Option } from "commander";
import { type CliCommand, CommandFailedError, type CommandResult, EXIT_FINDING, EXIT_OK } from "./command.js";
import { type ConsistencyReport, checkConsistency } from "./consistency.js";
import type { CliContext } from "./context.js";
import { type ReadModelName, rebuildReadModel } from "./read-models.js";
import { type LostEvent, loadReport, type RecoveryReport, saveReport } from "./recovery-report.js";
import type { StreamComparison, StreamEntry } from "./stream-comparison.js";
import { formatVerify, jsonOf } from "./verify.js";

// `pnpm orderly recover` (docs/adr/0011-recovery.md). Every run plans from what it finds, so a second run, or a run
// after an interrupted one, only does what is still left. The order of the steps is what makes that safe:
//   1. the lost events (stream messages the store does not hold) go to the report file, bodies included, before
//      anything can delete them;
//   2. refill: a store that is a prefix of the stream gets the stream's tail back at its own positions;
//   3. the positions past the store's last event that anything downstream saw are retired (with the refill, in its
//      transaction), before anything downstream is touched: from then on the old timeline's events are `lost`;
//   4. checkpoints standing on what the store does not hold move onto it (past the retired positions), compare-and-set;
//   5. read models that hold what the store does not are rebuilt;
//   6. reset: with the relays fenced off, the stream is recreated and republished from the store;
//   7. optionally, lost events whose orders nobody touched since are appended again (new ids, new positions);
//   8. a final verify decides the exit code.

const RELAY = "outbox-relay";

type Mode = "auto" | "refill" | "reset";

interface Plan {
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

export const recoverCommand: CliCommand = {
  name: "recover",
  description:
    "bring the stream and both read models back to agreement with the event store after it went back (restore, failover, new database); safe to run twice and to interrupt",
  configure: (command) =>
    command
      .addOption(
        new Option("--mode <mode>", "auto: refill when the store is a prefix of the stream, else reset")
          .choices(["auto", "refill", "reset"])
          .default("auto"),
      )
      .option("--report <file>", "report file of the lost events (default orderly-recovery-<namespace>.json)")
      .option("--reappend", "append the lost events whose orders nobody touched since again, as new events")
      .option(
        "--retire-to <position>",
        "retire positions up to this one too (the highest position acknowledged to a client, if known)",
        (text: string) => {
          const n = Number(text);
          if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("expected a position");
          return n;
        },
      )
      .option("--dry-run", "say what would be done, change nothing"),
  async run(context, _args, options) {
    const reportFile = (options.report as string | undefined) ?? `orderly-recovery-${context.stack.namespace}.json`;
    return recover(context, {
      mode: options.mode as Mode,
      reportFile,
      reappend: options.reappend === true,
      dryRun: options.dryRun === true,
      retireTo: (options.retireTo as number | undefined) ?? 0,
    });
  },
};

interface RecoverOptions {
  readonly mode: Mode;
  readonly reportFile: string;
  readonly reappend: boolean;
  readonly dryRun: boolean;
  readonly retireTo: number;
}

async function recover(context: CliContext, options: RecoverOptions): Promise<CommandResult> {
  const started = performance.now();
  const pool = await context.pool();
  const store = await readStoreStatus(pool);
  if (store.storeId === undefined) throw new CommandFailedError("the event store has no identity: migrate it first");
  // Without the stream there is nothing to compare with: recovering blind could throw away what it still holds.
  await context.jsm();
  const before = await checkConsistency(context, { readModels: false });
  if ("error" in before.stream) throw new CommandFailedError(`the stream cannot be read: ${before.stream.error}`);
  const previous = await loadReport(options.reportFile, context.stack.namespace, store.storeId);
  const plan = await makePlan(context, store, before.stream, options.mode, previous);

  const report: RecoveryReport = {
    namespace: context.stack.namespace,
    storeId: store.storeId,
    status: "in-progress",
    startedAt: new Date().toISOString(),
    mode: plan.mode === "none" ? (previous?.mode ?? "none") : plan.mode,
    maxSeen: Math.max(plan.maxSeen, previous?.maxSeen ?? 0, options.retireTo),
    lost: previous?.lost ?? [],
    refilled: previous?.refilled,
    retired: previous?.retired,
    reappended: previous?.reappended ?? [],
    notes: [],
  };
  if (options.dryRun) {
    return { exitCode: EXIT_OK, json: { plan: planJson(plan), reportFile: options.reportFile }, text: planText(plan) };
  }

  const steps: string[] = [];
  const step = (line: string) => {
    steps.push(line);
    context.note(line);
  };
  step(`plan: ${plan.mode} (${plan.why})`);

  // 1. The lost events, bodies included, go to the report before anything can delete them.
  if (plan.lost.length > 0) {
    report.lost = mergeLost(report.lost, await readLost(context, plan.lost, before.stream));
  }
  await saveReport(options.reportFile, report);
  if (report.lost.length > 0) step(`${report.lost.length} lost event(s) listed in ${options.reportFile}`);

  const recovery = new StoreRecovery(pool);
  let storeLast = plan.storeLast;
  const maxSeen = report.maxSeen;
  const retireReason = `pnpm orderly recover: the store went back to ${plan.storeLast}`;
  const noteRetired = (retired: { first: number; last: number } | undefined) => {
    if (!retired) return;
    report.retired = retired;
    step(`retired positions ${retired.first}-${retired.last}: new events start at ${retired.last + 1}`);
  };

  // 2. Refill, and retire what lies past it in the same transaction: once the store holds the stream's tail the
  //    command service appends again, and must not get a position a read model saw for another event.
  if (plan.refill) {
    const events = [];
    const js = jetstream(await context.nats());
    const progress = context.progress("reading the stream's tail", plan.refill.count);
    for await (const { event } of readStreamEvents(js, before.stream.stream, plan.refill)) {
      events.push(event);
      progress.increment();
    }
    progress.stop();
    const result = await recovery.refill(storeLast, events, { upTo: maxSeen, reason: retireReason });
    storeLast = result.head;
    report.refilled = { from: plan.refill.fromSeq, to: result.head, count: result.inserted };
    report.notes.push(
      `refilled positions ${plan.storeLast + 1}-${result.head} from the stream; the idempotency keys of their commands cannot be restored (a client retrying one of those commands with its key gets it applied again)`,
    );
    step(`refilled ${result.inserted} event(s) from the stream: the store's last event is now ${storeLast}`);
    noteRetired(result.retired);
  }

  // 3. Retire the positions past the store's last event that anything downstream saw. Before any read model is touched:
  //    from here on an event of the old timeline at those positions is `lost` for every component (never applied or
  //    published, the command service refuses appends while the stream's tail is one), and a checkpoint can stand on
  //    a retired position.
  if (maxSeen > storeLast) noteRetired(await recovery.retire(maxSeen, retireReason));

  // 4. Checkpoints. One the store does not hold (ahead of it, on another event) moves onto the store: past the retired
  //    positions when there are some (forward, a mark without an event), else onto its last event. One that stands on
  //    the last event below the retired positions moves past them too, so the old stream's events there are dropped
  //    as covered. Each is a compare-and-set on what was read: a projector that applied a newer event keeps its own,
  //    and a sound checkpoint left below the range steps over it by itself (catch-up skips retired ranges).
  const storeId = store.storeId;
  const continuity = new StoreContinuity(pool);
  // A partitioned read model (ADR 0019) settles every partition's checkpoint so, each a compare-and-set of its own.
  const settle = async (name: ReadModelName): Promise<void> => {
    const count = (await readReadModelMarks(context, name)).length;
    for (let partition = 0; partition < count; partition++) await settlePartition(name, partition, count);
  };
  const settlePartition = async (name: ReadModelName, partition: number, count: number): Promise<void> => {
    const current = (await readReadModelMarks(context, name))[partition];
    if (!current) return;
    const sound = (await continuity.check(current)).kind === "ok";
    const top = await recovery.lastEventPosition();
    // The positions past the store's last event are retired (up to the counter) when a recovery retired some.
    const tail = (await readStoreStatus(pool)).retired.reduce((end, r) => Math.max(end, r.last), 0);
    let mark: ReadModelMark | undefined;
    if (tail > top && (!sound || current.position === top) && current.position !== tail) {
      mark = { position: tail, eventId: undefined, storeId };
    } else if (!sound) {
      mark = { position: top, eventId: top === 0 ? undefined : (await eventIdsAt(pool, [top])).get(top), storeId };
    }
    if (mark && (await setReadModelCheckpoint(context, name, partition, mark, (now) => sameMark(now, current)))) {
      const which = count > 1 ? ` partition ${partition} of ${count}` : "";
      step(`${name}${which}: checkpoint moved from ${current.position} to ${mark.position}`);
    }
  };
  for (const name of [ORDER_SUMMARIES, CUSTOMER_ORDERS] as const) await settle(name);

  // 5. Read models that hold what the store does not are rebuilt (the swap catches the shadow up to the live
  //    checkpoint, stepping over retired positions).
  const rebuilt: string[] = [];
  const rebuildOne = async (name: ReadModelName, why: string) => {
    await settle(name);
    step(`rebuilding ${name} (${why})`);
    const result = await rebuildReadModel(context, name);
    rebuilt.push(name);
    step(`${name}: rebuilt at ${result.position} in ${result.totalSeconds.toFixed(1)} s`);
    // The swap may leave it on the store's last event below the retired positions: past them, as above.
    await settle(name);
  };
  for (const { name, why } of plan.rebuild) await rebuildOne(name, why);

  // 6. Reset: recreate the stream and republish it from the store, with the relays fenced off meanwhile.
  if (plan.mode === "reset") await republish(context, step);
  else if (!plan.relayCheckpoint.sound) {
    await recovery.setRelayCheckpoint(RELAY, { position: before.stream.tailPosition, eventId: undefined });
    step(`relay checkpoint set back to the stream's last message, position ${before.stream.tailPosition}`);
  }
  report.status = "done";
  await saveReport(options.reportFile, report);

  // 7. Lost events of untouched orders, appended again.
  if (options.reappend) {
    report.reappended = await reappend(context, report.lost, report.reappended);
    await saveReport(options.reportFile, report);
    const done = report.reappended.filter((r) => r.outcome === "appended").length;
    step(`re-appended ${done} of ${report.lost.length} lost event(s); see ${options.reportFile}`);
  }

  // 8. What does the store say now?
  let after = await checkConsistency(context);
  const differing = after.readModels.filter(
    (m): m is Extract<typeof m, { counts: unknown }> =>
      "counts" in m && !rebuilt.includes(m.name) && Object.values(m.counts).some((n) => n > 0),
  );
  if (differing.length > 0) {
    for (const model of differing) await rebuildOne(model.name as ReadModelName, "its rows differ from the store");
    after = await checkConsistency(context);
  }
  report.finishedAt = new Date().toISOString();
  await saveReport(options.reportFile, report);
  const seconds = (performance.now() - started) / 1000;
  return {
    exitCode: after.findings.length === 0 ? EXIT_OK : EXIT_FINDING,
    json: { plan: planJson(plan), steps, reportFile: options.reportFile, seconds, verify: jsonOf(after) },
    text: [...steps, `report: ${options.reportFile}`, formatVerify(after), `recover took ${seconds.toFixed(1)} s`].join(
      "\n",
    ),
  };
}

async function makePlan(
  context: CliContext,
  store: StoreStatus,
  stream: StreamComparison,
  mode: Mode,
  previous: RecoveryReport | undefined,
): Promise<Plan> {
  const pool = await context.pool();
  const storeLast = store.lastEventPosition;
  const differences = Object.values(stream.counts).reduce((a, b) => a + b, 0);
  const streamAhead = stream.tailPosition > storeLast;
  const canRefill = stream.matchesStorePrefix && streamAhead;
  let chosen: Plan["mode"];
  let why: string;
  if (mode === "reset") {
    chosen = "reset";
    why = "asked for";
  } else if (differences === 0) {
    // An interrupted reset leaves a stream that agrees but read models that may not: finish it.
    chosen = previous?.status === "in-progress" && previous.mode === "reset" ? "reset" : "none";
    why = chosen === "reset" ? "finishing an interrupted reset" : "the stream agrees with the store";
  } else if (canRefill) {
    chosen = "refill";
    why = `the store is a prefix of the stream, which still holds positions ${storeLast + 1}-${stream.tailPosition}`;
  } else if (mode === "refill") {
    throw new CommandFailedError(
      "cannot refill: the store is not a prefix of the stream, or the stream no longer holds what the store lacks (use --mode reset)",
    );
  } else {
    chosen = "reset";
    why = stream.matchesStorePrefix
      ? "the stream no longer holds every event the store lacks"
      : `the store holds other events than the stream (${describeCounts(stream)})`;
  }
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
  const rebuild: { name: ReadModelName; why: string }[] = [];
  for (const { name, marks: partitions, error } of marks) {
    if (!partitions) throw new CommandFailedError(`${name} cannot be read: ${error}`);
    // Every partition's checkpoint (ADR 0019) is judged as an unpartitioned read model's is; one amiss rebuilds it all.
    for (const [index, mark] of partitions.entries()) {
      const its = partitions.length > 1 ? `its partition ${index}'s checkpoint` : "its checkpoint";
      let problem: string | undefined;
      if (chosen === "reset") problem = "the store is the truth: every read model is rebuilt from it";
      else if (mark.storeId !== undefined && mark.storeId !== store.storeId)
        problem = `${its} comes from store ${mark.storeId}`;
      else if (mark.position > afterRefill && !(retired(mark.position) && mark.position === store.head))
        problem = `${its} ${mark.position} is past the store's last event ${afterRefill}`;
      else if (mark.eventId !== undefined && mark.position <= storeLast && ids.get(mark.position) !== mark.eventId)
        problem = `${its} stands on event ${mark.eventId}, the store holds ${ids.get(mark.position) ?? "nothing"} at ${mark.position}`;
      if (problem) {
        rebuild.push({ name, why: problem });
        break;
      }
    }
  }
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

/** Every read model's partition marks (one when unpartitioned), and the highest high-water mark of customer_orders. */
async function readMarks(context: CliContext) {
  const pool = await context.pool();
  const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
  const [summaries, customerOrders, highWater] = await Promise.all([
    readOrderSummariesPartitionMarks(pool).catch((error: unknown) => message(error)),
    context
      .redis()
      .then((redis) => readCustomerOrdersPartitionMarks(redis, context.stack.namespace))
      .catch((error: unknown) => message(error)),
    // Partition i > 0 records its own (`customer_orders.high_water.p<i>`, ADR 0019).
    pool
      .query<{ position: number | string | null }>(
        "select max(position) as position from projection_checkpoints where name = $1 or starts_with(name, $1 || '.p')",
        [`${CUSTOMER_ORDERS}.high_water`],
      )
      .then((r) => Number(r.rows[0]?.position ?? 0))
      .catch(() => 0),
  ]);
  const entry = (name: ReadModelName, value: ReadModelMark[] | string, hw?: number) =>
    typeof value === "string"
      ? { name, marks: undefined, error: value, highWater: hw }
      : { name, marks: value, error: undefined, highWater: hw };
  return [entry(ORDER_SUMMARIES, summaries), entry(CUSTOMER_ORDERS, customerOrders, highWater)];
}

/**
 * Sets a read model partition's checkpoint (0 when unpartitioned) when `when` approves of where it stands,
 * compare-and-set against that reading: a projector that moved it in between keeps its own.
 */
async function setReadModelCheckpoint(
  context: CliContext,
  name: ReadModelName,
  partition: number,
  mark: ReadModelMark,
  when: (current: ReadModelMark) => boolean,
): Promise<boolean> {
  const current = (await readReadModelMarks(context, name))[partition];
  if (!current || !when(current)) return false;
  const pool = await context.pool();
  if (name === ORDER_SUMMARIES) return setOrderSummariesCheckpoint(pool, mark, current.position, partition);
  const redis = await context.redis();
  return setCustomerOrdersCheckpoint(redis, pool, context.stack.namespace, mark, current.position, partition);
}

/** Where each partition of a read model stands (entry i: partition i; one entry when unpartitioned). */
async function readReadModelMarks(context: CliContext, name: ReadModelName): Promise<ReadModelMark[]> {
  const pool = await context.pool();
  if (name === ORDER_SUMMARIES) return readOrderSummariesPartitionMarks(pool);
  return readCustomerOrdersPartitionMarks(await context.redis(), context.stack.namespace);
}

function sameMark(a: ReadModelMark, b: ReadModelMark): boolean {
  return a.position === b.position && a.eventId === b.eventId;
}

/** Fences the relays, recreates the stream, lets a relay republish the store into it and waits until it has. */
async function republish(context: CliContext, step: (line: string) => void): Promise<void> {
  const pool = await context.pool();
  const jsm = await context.jsm();
  const { stack } = context;
  const fence = await RelayFence.acquire(stack.databaseUrl, {
    name: RELAY,
    onTerminate: (pid) =>
      step(`ended the session of the active relay (pid ${pid}); it stands by until the stream is back`),
  });
  try {
    await new StoreRecovery(pool).setRelayCheckpoint(RELAY, { position: 0, eventId: undefined });
    await recreateOrdersStream(jsm, stack.namespace, { replicas: stack.streamReplicas });
  } finally {
    await fence.release();
  }
  step("stream recreated empty; republishing it from the store");
  const target = await new StoreRecovery(pool).lastEventPosition();
  // Whichever relay takes the lock (this one, or a running service's) republishes from the empty stream's start.
  const relay = new OutboxRelay({
    store: new PostgresRelayStore(stack.databaseUrl),
    natsUrl: stack.natsServers,
    natsOptions: stack.nats,
    bus: ordersBus(stack.namespace, { replicas: stack.streamReplicas }),
    name: RELAY,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    pollIntervalMs: 200,
  });
  relay.start();
  const progress = context.progress("republishing the stream", target);
  try {
    const deadline = Date.now() + Math.max(120_000, target);
    for (;;) {
      const status = await readOrdersStreamStatus(jsm, stack.namespace);
      const tail = status.exists ? (status.tail?.position ?? 0) : 0;
      progress.update(Math.min(tail, target));
      if (tail >= target) break;
      if (Date.now() > deadline)
        throw new Error(`the stream reached position ${tail} of ${target} in the time allowed`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    progress.stop();
    await relay.stop();
  }
  step(`stream republished: it holds the store's events up to ${target}`);
}

/** Reads the bodies of the lost messages (before the stream is purged) for the report and `--reappend`. */
async function readLost(
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

function mergeLost(previous: readonly LostEvent[], found: readonly LostEvent[]): LostEvent[] {
  const byId = new Map(previous.map((e) => [e.eventId, e]));
  for (const e of found) byId.set(e.eventId, e);
  return [...byId.values()].sort((a, b) => a.position - b.position);
}

/**
 * Appends the lost events of every order that nobody touched since (its version in the store is the one its first
 * lost event followed) as new events: new ids (the causation id names the lost event), new positions, the same
 * command and correlation ids. An order already re-appended (an event caused by a lost one exists) is skipped.
 */
async function reappend(
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
    const orderId = first.orderId;
    if (events.some((e) => caused.has(e.eventId))) {
      outcomes.set(streamId, { streamId, orderId, events: events.length, outcome: "already re-appended" });
      continue;
    }
    const contiguous = events.every((e, i) => e.streamVersion === first.streamVersion + i);
    if (!contiguous || first.streamVersion !== version + 1) {
      outcomes.set(streamId, {
        streamId,
        orderId,
        events: events.length,
        outcome: `skipped: the order is at version ${version} in the store, its lost events start at ${first.streamVersion}`,
      });
      continue;
    }
    try {
      const result = await store.append({
        streamId,
        expectedVersion: version === 0 ? "no_stream" : version,
        events: events.map((e) => ({
          event: { type: e.type, data: e.data } as never,
          metadata: {
            eventId: randomUUID(),
            commandId: e.commandId,
            correlationId: e.correlationId,
            causationId: e.eventId,
            occurredAt: new Date(e.occurredAt),
          },
        })),
      });
      outcomes.set(streamId, {
        streamId,
        orderId,
        events: events.length,
        outcome: "appended",
        position: result.position,
      });
    } catch (error) {
      outcomes.set(streamId, {
        streamId,
        orderId,
        events: events.length,
        outcome: `skipped: ${(error as Error).message}`,
      });
    }
  }
  return [...outcomes.values()];
}

function describeCounts(stream: StreamComparison): string {
  return Object.entries(stream.counts)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(", ");
}

function planJson(plan: Plan) {
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

function planText(plan: Plan): string {
  const lines = [`would ${plan.mode === "none" ? "change nothing in the stream" : plan.mode} (${plan.why})`];
  if (plan.refill) lines.push(`  copy ${plan.refill.count} event(s) back from the stream into the store`);
  if (plan.lost.length > 0) lines.push(`  list ${plan.lost.length} lost event(s) in the report file`);
  if (plan.maxSeen > plan.storeLast) lines.push(`  retire positions up to ${plan.maxSeen}`);
  for (const r of plan.rebuild) lines.push(`  rebuild ${r.name}: ${r.why}`);
  if (plan.mode === "reset") lines.push("  recreate the stream and republish it from the store");
  return lines.join("\n");
}

export type { ConsistencyReport };
