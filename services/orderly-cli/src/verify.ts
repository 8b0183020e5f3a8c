import { InvalidArgumentError } from "commander";
import { type CliCommand, EXIT_FINDING, EXIT_OK } from "./command.js";
import { type ConsistencyReport, checkConsistency } from "./consistency.js";

export const verifyCommand: CliCommand = {
  name: "verify",
  description:
    "fold the event store and compare the stream and both read models with it (exit 1 when anything differs)",
  configure: (command) =>
    command.option("--limit <n>", "differences listed per component (counts are always complete)", parseLimit, 20),
  async run(context, _args, options) {
    const report = await checkConsistency(context, { limit: options.limit as number });
    return {
      exitCode: report.findings.length === 0 ? EXIT_OK : EXIT_FINDING,
      json: jsonOf(report),
      text: formatVerify(report),
    };
  },
};

function parseLimit(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number");
  return n;
}

/** The report without the full list of lost events (recover writes that to its report file). */
export function jsonOf(report: ConsistencyReport): unknown {
  if ("error" in report.stream) return report;
  const { lost, ...stream } = report.stream;
  return { ...report, stream: { ...stream, lost: lost.length } };
}

export function formatVerify(report: ConsistencyReport): string {
  const { store } = report;
  const lines = [
    `namespace ${report.namespace}: store ${store.storeId ?? "(no id)"}, ${report.events} events, last at ${store.lastEventPosition}, head ${store.head}` +
      (store.retired.length > 0 ? `, retired ${store.retired.map((r) => `${r.first}-${r.last}`).join(", ")}` : ""),
  ];
  for (const problem of report.storeProblems) lines.push(`  store: ${problem}`);
  const stream = report.stream;
  if ("error" in stream) lines.push(`stream: could not be read: ${stream.error}`);
  else {
    const differences = Object.entries(stream.counts).filter(([, n]) => n > 0);
    lines.push(
      `stream ${stream.stream}: ${stream.exists ? `${stream.messages} messages (seq ${stream.firstSeq}-${stream.lastSeq}), last position ${stream.tailPosition}` : "does not exist"}` +
        (stream.unpublished > 0 ? `, ${stream.unpublished} store events not published yet` : "") +
        (stream.agedOut > 0 ? `, ${stream.agedOut} aged out (max_age)` : "") +
        (differences.length === 0 ? ": agrees" : `: ${differences.map(([k, n]) => `${n} ${k}`).join(", ")}`),
    );
    for (const d of stream.examples) {
      lines.push(
        `  ${d.kind} at position ${d.position}${d.seq !== undefined ? ` (seq ${d.seq})` : ""}: stream ${d.streamEventId ?? "-"}, store ${d.storeEventId ?? "-"}`,
      );
    }
  }
  for (const model of report.readModels) {
    if ("error" in model) {
      lines.push(`${model.name}: could not be read: ${model.error}`);
      continue;
    }
    const differences = Object.entries(model.counts).filter(([, n]) => n > 0);
    lines.push(
      `${model.name}: checkpoint ${model.checkpoint}${model.lag > 0 ? ` (lag ${model.lag})` : ""}, ${model.rows} rows, a fold at ${model.comparedAt} has ${model.expectedRows}` +
        (model.movedWhileReading > 0 ? `, ${model.movedWhileReading} written while reading (skipped)` : "") +
        (differences.length === 0 && !model.checkpointProblem
          ? ": agrees"
          : `: ${differences.map(([k, n]) => `${n} ${k}`).join(", ")}`),
    );
    if (model.checkpointProblem) lines.push(`  ${model.checkpointProblem}`);
    for (const e of model.examples) lines.push(`  ${e.kind} ${e.orderId}: ${e.detail}`);
  }
  lines.push(
    report.findings.length === 0
      ? `everything agrees with the event store (${report.seconds.toFixed(1)} s)`
      : `${report.findings.length} finding(s) (${report.seconds.toFixed(1)} s); \`pnpm orderly recover\` brings everything back to the store`,
  );
  return lines.join("\n");
}
