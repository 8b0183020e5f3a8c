import { jetstream } from "@nats-io/jetstream";
import { readStreamEvents } from "@orderly/event-bus";
import { readStoreStatus, StoreRecovery } from "@orderly/event-store-postgres";
import { CUSTOMER_ORDERS, ORDER_SUMMARIES } from "@orderly/order-read-models";
import { InvalidArgumentError, Option } from "commander";
import { type CliCommand, CommandFailedError, type CommandResult, EXIT_FINDING, EXIT_OK } from "./command.js";
import { type ConsistencyReport, checkConsistency } from "./consistency.js";
import type { CliContext } from "./context.js";
import { mergeLost, readLost, reappend } from "./lost-events.js";
import { settleCheckpoints } from "./read-model-checkpoints.js";
import { type ReadModelName, rebuildReadModel } from "./read-models.js";
import { type Mode, makePlan, type Plan, planJson, planText } from "./recovery-plan.js";
import { loadReport, type RecoveryReport, saveReport } from "./recovery-report.js";
import { RELAY, republish } from "./republish.js";
import type { StreamComparison } from "./stream-comparison.js";
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
/** What the steps of one run share. */
interface RecoveryRun {
  readonly context: CliContext;
  readonly options: RecoverOptions;
  readonly plan: Plan;
  readonly report: RecoveryReport;
  readonly recovery: StoreRecovery;
  readonly storeId: string;
  /** Says a step's outcome (stderr) and keeps it for the result. */
  readonly step: (line: string) => void;
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
  const run: RecoveryRun = {
    context,
    options,
    plan,
    report,
    recovery: new StoreRecovery(pool),
    storeId: store.storeId,
    step,
  };
  await repairStore(run, before.stream);
  const rebuilt = await repairDownstream(run, before.stream);
  const after = await verifyAfter(run, rebuilt);
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

/** Steps 1 to 3: the lost events to the report, the refill, the retired positions. */
async function repairStore(run: RecoveryRun, stream: StreamComparison): Promise<void> {
  const { context, options, plan, report, recovery, step } = run;
  // 1. The lost events, bodies included, go to the report before anything can delete them.
  if (plan.lost.length > 0) {
    report.lost = mergeLost(report.lost, await readLost(context, plan.lost, stream));
  }
  await saveReport(options.reportFile, report);
  if (report.lost.length > 0) step(`${report.lost.length} lost event(s) listed in ${options.reportFile}`);

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
    for await (const { event } of readStreamEvents(js, stream.stream, plan.refill)) {
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
}

/** Steps 4 to 7: checkpoints, rebuilds, the stream, re-appends. Returns the read models rebuilt. */
async function repairDownstream(run: RecoveryRun, stream: StreamComparison): Promise<string[]> {
  const { context, options, plan, report, recovery, step } = run;
  // 4. Checkpoints the store does not hold move onto it (read-model-checkpoints.ts says how).
  for (const name of [ORDER_SUMMARIES, CUSTOMER_ORDERS] as const)
    await settleCheckpoints(context, run.storeId, name, step);

  // 5. Read models that hold what the store does not are rebuilt (the swap catches the shadow up to the live
  //    checkpoint, stepping over retired positions).
  const rebuilt: string[] = [];
  for (const { name, why } of plan.rebuild) await rebuildOne(run, name, why, rebuilt);

  // 6. Reset: recreate the stream and republish it from the store, with the relays fenced off meanwhile.
  if (plan.mode === "reset") await republish(context, step);
  else if (!plan.relayCheckpoint.sound) {
    await recovery.setRelayCheckpoint(RELAY, { position: stream.tailPosition, eventId: undefined });
    step(`relay checkpoint set back to the stream's last message, position ${stream.tailPosition}`);
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
  return rebuilt;
}

async function rebuildOne(run: RecoveryRun, name: ReadModelName, why: string, rebuilt: string[]): Promise<void> {
  const { context, storeId, step } = run;
  await settleCheckpoints(context, storeId, name, step);
  step(`rebuilding ${name} (${why})`);
  const result = await rebuildReadModel(context, name);
  rebuilt.push(name);
  step(`${name}: rebuilt at ${result.position} in ${result.totalSeconds.toFixed(1)} s`);
  // The swap may leave it on the store's last event below the retired positions: past them, as above.
  await settleCheckpoints(context, storeId, name, step);
}

/** 8. What does the store say now? A read model whose rows still differ (and was not just rebuilt) is rebuilt. */
async function verifyAfter(run: RecoveryRun, rebuilt: string[]): Promise<ConsistencyReport> {
  const after = await checkConsistency(run.context);
  const differing = after.readModels.filter(
    (m): m is Extract<typeof m, { counts: unknown }> =>
      "counts" in m && !rebuilt.includes(m.name) && Object.values(m.counts).some((n) => n > 0),
  );
  if (differing.length === 0) return after;
  for (const model of differing) {
    await rebuildOne(run, model.name as ReadModelName, "its rows differ from the store", rebuilt);
  }
  return checkConsistency(run.context);
}

export type { ConsistencyReport };
