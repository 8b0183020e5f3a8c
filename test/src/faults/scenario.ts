import { appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Report } from "@orderly/loadtest";
import { eventually } from "@orderly/testing";
import {
  type CommandLog,
  type CommandReport,
  checkCommands,
  checkReadModels,
  checkStream,
  positions,
  type ReadModelReport,
  type StreamReport,
} from "./checker.js";
import { faultLoad } from "./fault-load.js";
import type { FaultStack } from "./fault-stack.js";
import type { FaultProfile } from "./profile.js";

// One scenario: the load generator runs open loop against the stack; `faultAtMs` into it the fault is injected and
// lifted; once the load ends and the read models caught up, the checker classifies every command of the stack so
// far and every read-model row, and the scenario's figures are printed (and appended to a file for the docs).

export interface FaultTimes {
  /** When the fault began and when it was lifted (server back, process resumed or restarted), Date.now() ms. */
  readonly startedAt: number;
  readonly liftedAt: number;
}

export interface ScenarioResult {
  readonly name: string;
  readonly load: Report;
  /** This scenario's commands. */
  readonly commands: CommandReport;
  /** Every command the stack was sent so far, this scenario's included (nothing lost later either). */
  readonly allCommands: CommandReport;
  readonly readModels: ReadModelReport;
  readonly stream: StreamReport;
  /** From the fault to the first failed readiness probe of any service, or the first failed command. */
  readonly detectMs: number | undefined;
  /** From the fault's lifting to every service ready and a command accepted again. */
  readonly recoverMs: number | undefined;
  /** From the end of the load to both read models at the store head. */
  readonly catchUpMs: number;
  readonly restarts: number;
  /** Lost commands of this scenario sent within / outside the restore's window (outside must be 0). */
  readonly lostInWindow: number;
  readonly lostOutsideWindow: number;
}

export interface ScenarioOptions {
  readonly name: string;
  readonly stack: FaultStack;
  readonly profile: FaultProfile;
  /** Collects every command of the stack (shared by its scenarios). */
  readonly log: CommandLog;
  readonly fault: () => Promise<FaultTimes>;
  /**
   * A restore's window (Date.now() ms): commands sent within it may be lost by the restore itself (accepted after the
   * backup was taken, before the store went back). Known once the fault ran.
   */
  readonly lossWindow?: () => { from: number; to: number } | undefined;
  readonly seed?: number;
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { stack, profile, log, name } = options;
  const first = log.records.length;
  const restartsBefore = stack.restarts.length;
  const probes: { at: number; ready: boolean }[] = [];
  let probing = true;
  const prober = (async () => {
    while (probing) {
      const at = Date.now();
      const readiness = await stack.readiness();
      probes.push({ at, ready: Object.values(readiness).every(Boolean) });
      await sleep(200);
    }
  })();

  const stopLoad = new AbortController();
  // Until stopped: `tailMs` after the stack has recovered from the fault.
  const load = faultLoad({
    port: stack.ports.command,
    rate: profile.rate,
    seed: options.seed ?? 7,
    signal: stopLoad.signal,
    log,
    timeoutMs: profile.callTimeoutMs,
    maxInFlight: 2000,
  });
  let times: FaultTimes;
  try {
    await sleep(profile.faultAtMs);
    times = await options.fault();
    const lifted = times.liftedAt;
    await eventually(
      () =>
        probes.some((p) => p.at >= lifted && p.ready) &&
        log.records.some((r, i) => i >= first && r.sentAt >= lifted && r.code === 0),
      `${name}: every service ready and a command accepted after the fault`,
      profile.recoverTimeoutMs,
      100,
    ).catch(() => undefined); // reported as "not recovered" below
    await sleep(profile.tailMs);
  } finally {
    // Wait for the load even when the fault failed, so that no call outlives the scenario.
    stopLoad.abort();
    await load.catch(() => undefined);
    probing = false;
    await prober;
  }
  const report = await load;
  const loadEndedAt = Date.now();

  const { env, servers } = stack;
  const databaseUrl = stack.databaseUrl();
  const caughtUp = await eventually(
    async () => {
      const p = await positions(databaseUrl, servers.redis.url, env.namespace);
      return p.postgres >= p.head && p.redis >= p.head;
    },
    `${name}: both read models to reach the store head`,
    120_000,
    200,
  ).then(
    () => true,
    () => false, // the checker reports what is missing
  );
  const catchUpMs = Date.now() - loadEndedAt;
  if (!caughtUp) await explainLag(stack, name);

  const mine = log.records.slice(first);
  const commands = await checkCommands(databaseUrl, mine);
  const allCommands = await checkCommands(databaseUrl, log.records);
  const readModels = await checkReadModels(databaseUrl, servers.redis.url, env.namespace);
  const stream = await checkStream(databaseUrl, servers.nats.url, env.namespace);

  const firstFailedCommand = mine.find((r) => r.settledAt >= times.startedAt && r.code !== 0 && r.code !== 10);
  const firstUnready = probes.find((p) => p.at >= times.startedAt && !p.ready);
  const detectedAt = Math.min(
    firstUnready?.at ?? Number.POSITIVE_INFINITY,
    firstFailedCommand?.settledAt ?? Number.POSITIVE_INFINITY,
  );
  const readyAgain = probes.find((p) => p.at >= times.liftedAt && p.ready);
  const acceptedAgain = mine.find((r) => r.sentAt >= times.liftedAt && r.code === 0);
  const recoveredAt = readyAgain && acceptedAgain ? Math.max(readyAgain.at, acceptedAgain.settledAt) : undefined;

  const window = options.lossWindow?.();
  const inWindow = (r: { sentAt: number }) => window !== undefined && r.sentAt >= window.from && r.sentAt <= window.to;
  const lost = commands.verdicts.filter((v) => v.verdict === "lost");
  const result: ScenarioResult = {
    name,
    load: report,
    commands,
    allCommands,
    readModels,
    stream,
    detectMs: Number.isFinite(detectedAt) ? detectedAt - times.startedAt : undefined,
    recoverMs: recoveredAt === undefined ? undefined : recoveredAt - times.liftedAt,
    catchUpMs,
    restarts: stack.restarts.length - restartsBefore,
    lostInWindow: lost.filter((v) => inWindow(v.record)).length,
    lostOutsideWindow: lost.filter((v) => !inWindow(v.record)).length,
  };
  publish(profile, result);
  return result;
}

/**
 * A read model that did not reach the store head: prints where each side stands and the last lines of the projectors'
 * output, so that a failure on CI (where only the test's output survives) says why.
 */
async function explainLag(stack: FaultStack, name: string): Promise<void> {
  const p = await positions(stack.databaseUrl(), stack.servers.redis.url, stack.env.namespace).catch(String);
  const readiness = await stack.readiness().catch(String);
  const tail = (text: string) => text.split("\n").slice(-40).join("\n");
  console.log(
    [
      `${name}: the read models did not reach the store head: ${JSON.stringify(p)}`,
      `readiness: ${JSON.stringify(readiness)}; restarts: ${JSON.stringify(stack.restarts)}`,
      ...(["projector-postgres", "projector-redis", "outbox-relay"] as const).map(
        (service) => `--- ${service}, last lines:\n${tail(stack.output(service))}`,
      ),
    ].join("\n"),
  );
}

const seconds = (ms: number | undefined) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(1)} s`);

/** The scenario's row of the figures table: printed, and appended to `$TMPDIR/orderly-faults-<profile>.md`. */
function publish(profile: FaultProfile, r: ScenarioResult): void {
  const phantom = r.readModels.postgres.phantom + r.readModels.redis.phantom;
  const missing = r.readModels.postgres.missing + r.readModels.redis.missing;
  const row = `| ${r.name} | ${r.commands.total} | ${r.commands.accepted} | ${r.lostOutsideWindow}${r.lostInWindow > 0 ? ` (+${r.lostInWindow} in the restore's window)` : ""} | ${r.commands.unknown} (${r.commands.unknownApplied} applied) | ${phantom} | ${missing} | ${r.stream.mismatched + r.stream.missing + r.stream.duplicatedOrUnordered} | ${seconds(r.detectMs)} | ${seconds(r.recoverMs)} | ${seconds(r.catchUpMs)} | ${r.restarts} |`;
  appendFileSync(join(tmpdir(), `orderly-faults-${profile.name}.md`), `${row}\n`);
  console.log(row);
  const problems = [
    ...r.allCommands.verdicts
      .filter((v) => v.verdict === "lost")
      .slice(0, 5)
      .map((v) => `lost ${v.record.key}: ${v.reason}`),
    ...r.readModels.differences.slice(0, 5).map((d) => `${d.model} ${d.verdict} ${d.orderId}: ${d.reason}`),
    ...r.stream.examples.slice(0, 5),
  ];
  const unknown = new Map<string, number>();
  for (const v of r.commands.verdicts) {
    if (v.verdict !== "unknown") continue;
    const reason = v.reason.replace(/[0-9a-f-]{36}/g, "<id>").replace(/\d{3,}/g, "<n>");
    unknown.set(reason, (unknown.get(reason) ?? 0) + 1);
  }
  for (const [reason, count] of [...unknown].sort((a, b) => b[1] - a[1]).slice(0, 3))
    problems.push(`${count}× ${reason}`);
  if (problems.length > 0) console.log(`${r.name}:\n  ${problems.join("\n  ")}`);
}

export const figuresHeader =
  "| scenario | commands | accepted | lost | unknown | phantom rows | missing rows | stream errors | detect | recover | read models caught up | restarts |\n|---|---|---|---|---|---|---|---|---|---|---|---|";
