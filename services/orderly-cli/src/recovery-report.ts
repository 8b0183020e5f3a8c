import { open, readFile, rename } from "node:fs/promises";

/** An event the store lost, as the stream held it: enough to list it and to append it again. */
export interface LostEvent {
  readonly position: number;
  readonly seq: number;
  readonly eventId: string;
  readonly orderId: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly data: unknown;
  readonly commandId: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly occurredAt: string;
  readonly committedAt: string;
}

/**
 * The report file of `pnpm orderly recover` (JSON): what was lost, refilled, retired and re-appended. It is written
 * before the stream is purged and read back by the next run, so an interrupted reset keeps its list of lost events,
 * and `--reappend` works after the stream no longer holds them.
 */
export interface RecoveryReport {
  namespace: string;
  storeId: string;
  status: "in-progress" | "done";
  startedAt: string;
  finishedAt?: string;
  mode: "none" | "refill" | "reset";
  /** The highest position anything downstream saw. */
  maxSeen: number;
  lost: LostEvent[];
  refilled: { from: number; to: number; count: number } | undefined;
  retired: { first: number; last: number } | undefined;
  reappended: {
    streamId: string;
    orderId: string;
    events: number;
    outcome: string;
    position?: number;
  }[];
  notes: string[];
}

/** The report of an earlier run for the same namespace and store, if the file holds one. */
export async function loadReport(
  file: string,
  namespace: string,
  storeId: string,
): Promise<RecoveryReport | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const report = JSON.parse(text) as RecoveryReport;
  return report.namespace === namespace && report.storeId === storeId ? report : undefined;
}

/** Writes the report durably (temporary file, fsync, rename): a crash leaves the old report or the new one. */
export async function saveReport(file: string, report: RecoveryReport): Promise<void> {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, "w");
  try {
    await handle.writeFile(`${JSON.stringify(report, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
}
