import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { eventually, type NodeRun, runNode } from "@orderly/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricValue } from "../ops/support.js";
import { notInSecureSubset } from "../secure-mode.js";
import { CommandLog, checkReadModels } from "./checker.js";
import {
  type FaultStack,
  type OwnServers,
  type ServiceName,
  serviceNames,
  startFaultStack,
  startOwnServers,
} from "./fault-stack.js";
import { faultProfile } from "./profile.js";
import { runScenario, type ScenarioResult } from "./scenario.js";

// When Postgres goes back (issue 13): the store restored from a backup taken mid-run while the stream and the Redis
// read model are ahead of it, and a fresh database under an old namespace. Each must be detected within seconds
// (orderly_store_diverged 1, /readyz NOT_SERVING, one error line naming `pnpm orderly recover`), `pnpm orderly
// verify` exits 1, `recover` exits 0, `verify` exits 0, and then: nothing lost outside the restore's window, every
// command accepted after the restore in both read models, no phantom row, the stream holding the store's event at
// every position.

// CI runs the short profile (both scenarios in well under 90 s on a quiet host); `ORDERLY_FAULTS_PROFILE=long` runs the
// long one (400 commands/s, 15 s outages). `ORDERLY_FAULTS_DUMP=<folder>` writes every service's output there.
const profile = faultProfile();
const cliEntry = fileURLToPath(new URL("../../../services/orderly-cli/dist/main.js", import.meta.url));
const timeout = 600_000;

let servers: OwnServers;
let workdir: string;
beforeAll(async () => {
  workdir = await mkdtemp(join(tmpdir(), "orderly-faults-restore-"));
  servers = await startOwnServers();
}, 240_000);
afterAll(async () => {
  await servers?.close();
  await rm(workdir, { recursive: true, force: true });
}, 120_000);

/** `pnpm orderly <args>` (the built CLI) with the services' environment. */
function orderly(stack: FaultStack, args: string[]): Promise<NodeRun> {
  // recover writes its report file into the working folder.
  return runNode(cliEntry, args, { env: { ...process.env, ...stack.serviceEnv() }, cwd: workdir, timeoutMs: 300_000 });
}

async function dumpOutputs(stack: FaultStack, name: string): Promise<void> {
  const folder = process.env.ORDERLY_FAULTS_DUMP;
  if (!folder) return;
  const { writeFile } = await import("node:fs/promises");
  for (const service of serviceNames) await writeFile(join(folder, `${name}-${service}.log`), stack.output(service));
}

async function diverged(stack: FaultStack): Promise<ServiceName[]> {
  const flagged: ServiceName[] = [];
  for (const name of serviceNames) {
    const text = await stack.metrics(name).catch(() => "");
    if ((metricValue(text, "orderly_store_diverged") ?? 0) >= 1) flagged.push(name);
  }
  return flagged;
}

/** What the operator sees and does once the store went back; the times it took. */
interface Recovery {
  detectedAt: number;
  divergedServices: ServiceName[];
  notReady: ServiceName[];
  loggedRecover: ServiceName[];
  verifyBefore: NodeRun;
  recover: NodeRun;
  verifyAfter: NodeRun;
  recoverMs: number;
  recoveredAt: number;
}

async function detectAndRecover(
  stack: FaultStack,
  wentBackAt: number,
  mode: "auto" | "reset" = "auto",
): Promise<Recovery> {
  const divergedServices = await eventually(
    async () => {
      const flagged = await diverged(stack);
      return flagged.length > 0 ? flagged : undefined;
    },
    "a component to report orderly_store_diverged 1",
    60_000,
    100,
  );
  const detectedAt = Date.now();
  await sleep(500);
  const readiness = await stack.readiness();
  const notReady = serviceNames.filter((name) => !readiness[name]);
  const loggedRecover = serviceNames.filter((name) =>
    stack
      .output(name)
      .split("\n")
      .some((line) => line.includes('"level":50') && line.includes("pnpm orderly recover")),
  );
  const verifyBefore = await orderly(stack, ["verify", "--json"]);
  const recoverFrom = Date.now();
  const recover = await orderly(stack, ["recover", "--json", "--mode", mode]);
  const recoverMs = Date.now() - recoverFrom;
  // The components resume by themselves and the projectors catch up with the live load: verify until it agrees.
  let verifyAfter = await orderly(stack, ["verify", "--json"]);
  for (let attempt = 0; attempt < 5 && verifyAfter.code !== 0; attempt++) {
    await sleep(3_000);
    verifyAfter = await orderly(stack, ["verify", "--json"]);
  }
  const recovery = {
    detectedAt,
    divergedServices,
    notReady,
    loggedRecover,
    verifyBefore,
    recover,
    verifyAfter,
    recoverMs,
    recoveredAt: Date.now(),
  };
  console.log(
    `store went back: orderly_store_diverged 1 on ${divergedServices.join(", ")} after ${((detectedAt - wentBackAt) / 1000).toFixed(1)} s; ` +
      `not ready: ${notReady.join(", ")}; error line naming the fix from: ${loggedRecover.join(", ")}; ` +
      `verify → ${verifyBefore.code}, recover → ${recover.code} in ${(recoverMs / 1000).toFixed(1)} s, verify → ${verifyAfter.code}`,
  );
  if (recover.code !== 0 || verifyAfter.code !== 0) {
    // Fail now, with what the operator would read, rather than wait for a stack that will not come back.
    throw new Error(
      `recover exited ${recover.code}, verify after it ${verifyAfter.code}\n--- recover:\n${recover.stderr.slice(-3000)}\n${recover.stdout.slice(-3000)}\n--- verify:\n${verifyAfter.stdout.slice(-3000)}`,
    );
  }
  return recovery;
}

/** The operator's view and the end state every restore scenario must reach. */
async function expectRecovered(
  stack: FaultStack,
  result: ScenarioResult,
  recovery: Recovery,
  wentBackAt: number,
): Promise<void> {
  expect(recovery.detectedAt - wentBackAt).toBeLessThan(30_000);
  expect(recovery.divergedServices.length).toBeGreaterThan(0);
  expect(recovery.notReady.length).toBeGreaterThan(0);
  expect(recovery.loggedRecover.length).toBeGreaterThan(0);
  expect([recovery.verifyBefore.code, recovery.verifyBefore.stderr]).toEqual([1, expect.any(String)]);
  expect([recovery.recover.code, recovery.recover.stderr]).toEqual([0, expect.any(String)]);
  expect([recovery.verifyAfter.code, recovery.verifyAfter.stdout.slice(0, 2000)]).toEqual([0, expect.any(String)]);

  expect(result.lostOutsideWindow).toBe(0);
  expect(result.readModels.differences.slice(0, 20)).toEqual([]);
  expect(result.readModels.postgres.phantom + result.readModels.redis.phantom).toBe(0);
  expect(result.stream.examples).toEqual([]);
  expect(result.stream.missing).toBe(0);

  // Every command accepted after the store went back is in both read models, at least at its reply's version.
  const after = result.commands.verdicts.filter((v) => v.record.sentAt > wentBackAt && v.record.code === 0);
  expect(after.length).toBeGreaterThan(0);
  expect(after.filter((v) => v.verdict !== "ok").map((v) => v.reason)).toEqual([]);
  const pool = new pg.Pool({ connectionString: stack.databaseUrl(), max: 1 });
  try {
    const { rows } = await pool.query<{ order_id: string; version: string }>(
      "select order_id::text, version::text from order_summaries where order_id = any($1::uuid[])",
      [after.map((v) => v.record.orderId)],
    );
    const versions = new Map(rows.map((r) => [r.order_id, Number(r.version)]));
    const stale = after.filter((v) => (versions.get(v.record.orderId) ?? 0) < (v.record.accepted?.streamVersion ?? 1));
    expect(stale.map((v) => v.record.orderId)).toEqual([]);
  } finally {
    await pool.end();
  }
  // Redis holds them too: the row check above compared every Redis row with the fold; none may be missing.
  const models = await checkReadModels(stack.databaseUrl(), servers.redis.url, stack.env.namespace);
  expect(models.redis.missing).toBe(0);
}

/**
 * Postgres restored from a backup taken mid-run, under load. `auto` finds the store a prefix of the stream and refills
 * it; `reset` (what an operator forces when the stream is not to be trusted) makes the store the truth under the live
 * load: the lost events to the report, both read models rebuilt, positions retired, the stream recreated and
 * republished while the command service takes new commands again.
 */
async function restoredFromBackup(mode: "auto" | "reset"): Promise<void> {
  const stack = await startFaultStack(servers, profile);
  const log = new CommandLog();
  let window: { from: number; to: number } | undefined;
  let recovery: Recovery | undefined;
  let wentBackAt = 0;
  try {
    const result = await runScenario({
      name: `Postgres restored from a mid-run backup, recover --mode ${mode}`,
      stack,
      profile,
      log,
      lossWindow: () => window,
      fault: async () => {
        const backupFrom = Date.now();
        const backup = await servers.postgres.backup();
        // The stream and the read models move on past the backup.
        await sleep(Math.max(profile.downMs, 3_000));
        await servers.postgres.restore(backup);
        wentBackAt = Date.now();
        window = { from: backupFrom, to: wentBackAt };
        recovery = await detectAndRecover(stack, wentBackAt, mode);
        return { startedAt: wentBackAt, liftedAt: recovery.recoveredAt };
      },
    });
    if (!recovery) throw new Error("no recovery");
    await expectRecovered(stack, result, recovery, wentBackAt);
  } finally {
    await dumpOutputs(stack, `restore-${mode}`);
    await stack.stop();
  }
}

describe(`when Postgres goes back (${profile.name} profile)`, () => {
  // CI (short profile) runs the reset here and the refill through the fresh database below, within its 90 s; the long
  // profile runs both modes on the restore.
  it.runIf(profile.name === "long")(
    "restored from a backup taken mid-run, recover (auto: refill): detected within seconds, verify 1, recover 0, verify 0, nothing lost outside the window",
    () => restoredFromBackup("auto"),
    timeout,
  );

  // Secure mode's subset: the fresh database below (detection, verify, recover over the same stack).
  it.skipIf(notInSecureSubset(false))(
    "restored from a backup taken mid-run, recover --mode reset under live load: detected within seconds, verify 1, recover 0, verify 0, nothing lost outside the window",
    () => restoredFromBackup("reset"),
    timeout,
  );

  it(
    "a fresh database under an old namespace: detected within seconds, verify 1, recover 0, verify 0",
    async () => {
      const stack = await startFaultStack(servers, profile);
      const log = new CommandLog();
      let window: { from: number; to: number } | undefined;
      let recovery: Recovery | undefined;
      let wentBackAt = 0;
      const fresh = `${new URL(stack.env.databaseUrl).pathname.slice(1)}_fresh`;
      try {
        const result = await runScenario({
          name: "a fresh database under an old namespace",
          stack,
          profile,
          log,
          lossWindow: () => window,
          fault: async () => {
            const admin = new pg.Client({ connectionString: servers.postgres.adminUrl });
            await admin.connect();
            try {
              await admin.query(`create database ${fresh}`);
            } finally {
              await admin.end();
            }
            // Everything the old database held may be lost: the window is the whole run so far.
            window = { from: 0, to: Date.now() };
            await stack.restartAll({ DATABASE_URL: servers.postgres.databaseUrl(fresh) });
            wentBackAt = Date.now();
            window = { from: 0, to: wentBackAt };
            recovery = await detectAndRecover(stack, wentBackAt);
            return { startedAt: wentBackAt, liftedAt: recovery.recoveredAt };
          },
        });
        if (!recovery) throw new Error("no recovery");
        await expectRecovered(stack, result, recovery, wentBackAt);
      } finally {
        await dumpOutputs(stack, "fresh");
        await stack.stop();
      }
    },
    timeout,
  );
});
