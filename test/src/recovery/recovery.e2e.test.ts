import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createPool, migrateEventStore, PostgresEventStore } from "@orderly/event-store-postgres";
import { migrateReadModels } from "@orderly/order-read-models";
import { appendHistories, generateOrderHistories } from "@orderly/order-read-models/testing";
import {
  dumpDatabase,
  eventually,
  freePort,
  type RunningService,
  replaceDatabase,
  startService,
  type TestEnvironment,
} from "@orderly/testing";
import type pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { stackEnvironment } from "../stack-environment.js";

// The restore scenarios of issue 13, end to end: the relay and both projectors run as processes (as in production),
// commands are appended straight to the store, Postgres goes back (a dump restored into the test's own database, or a
// new empty database under the same namespace), and `pnpm orderly` (the built CLI, as an operator runs it) finds and
// repairs it.

const run = promisify(execFile);
const entry = (service: string) => fileURLToPath(new URL(`../../../services/${service}/dist/main.js`, import.meta.url));
const cli = entry("orderly-cli");

let env: TestEnvironment;
let pool: pg.Pool;
let services: RunningService[] = [];
let workdir: string;
/** What the projectors start with besides the test's environment (the partitioned test sets PROJECTOR_PARTITIONS). */
let projectorEnv: Record<string, string> = {};

/** Ready on `/readyz`; after the store went back they are NOT_SERVING there (by design), so then only alive. */
async function startServices(probe: "readyz" | "healthz" = "readyz"): Promise<void> {
  services = [];
  for (const [name, service] of [
    ["relay", "outbox-relay"],
    ["projector-postgres", "projector-postgres"],
    ["projector-redis", "projector-redis"],
  ] as const) {
    const port = await freePort();
    services.push(
      await startService({
        name,
        entry: entry(service),
        env: {
          ...env.env,
          ...(name === "relay" ? {} : projectorEnv),
          METRICS_PORT: String(port),
          RELAY_LOCK_RETRY_MS: "100",
          LOG_LEVEL: "warn",
        },
        readyUrl: `http://127.0.0.1:${port}/${probe}`,
        readyTimeoutMs: 60_000,
      }),
    );
  }
}

async function stopServices(): Promise<void> {
  await Promise.all(services.map((s) => s.stop()));
  services = [];
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

const t0 = Date.now();
const log = (what: string) => {
  if (process.env.ORDERLY_TEST_VERBOSE) process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}\n`);
};

async function orderly(...args: string[]): Promise<CliRun> {
  log(`orderly ${args.join(" ")}`);
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      env: { ...process.env, ...env.env },
      cwd: workdir,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function appendOrders(events: number, seed: number): Promise<number> {
  return appendHistories(new PostgresEventStore(pool), generateOrderHistories(events, seed), 64);
}

/**
 * A backup of the store; then `events` more (of `seed`) reach every component; then the services stop, the backup is
 * put back and the services start again (probed on /healthz: they need not become ready). Returns the head the store
 * had reached before it went back.
 */
async function backUpMoveOnAndRestore(events: number, seed: number): Promise<number> {
  const dump = await dumpDatabase(env.databaseUrl);
  const head = await appendOrders(events, seed);
  await caughtUp();
  await stopServices();
  await pool.end();
  await replaceDatabase(env.databaseUrl, dump);
  await dump.remove();
  pool = createPool(env.databaseUrl, { max: 4 });
  await startServices("healthz");
  return head;
}

/**
 * The restore scenario: `before` orders, every component caught up and verify agreeing; then
 * `backUpMoveOnAndRestore(moveOn)`, and `after` orders on the restored store before anyone notices. Seeds `seed` to
 * `seed + 2`. Returns the head the stream had reached before the restore, and the restored store's head.
 */
async function restoredBehindTheStream(before: number, moveOn: number, after: number, seed: number) {
  await appendOrders(before, seed);
  await caughtUp();
  expect((await orderly("verify")).code).toBe(0);
  const headBefore = await backUpMoveOnAndRestore(moveOn, seed + 1);
  const restoredHead = await appendOrders(after, seed + 2);
  return { headBefore, restoredHead };
}

/** Until status shows every component at the store's head (nothing ahead, nothing lagging). */
async function caughtUp(): Promise<void> {
  log("waiting for every component to catch up");
  await eventually(
    async () => {
      const status = await orderly("status", "--json");
      if (status.code !== 0) return false;
      const report = JSON.parse(status.stdout) as { components: { position?: number; lag?: number }[] };
      return report.components.every((c) => c.lag === undefined || c.lag === 0);
    },
    "every component caught up with the store",
    90_000,
    250,
  );
}

/** New orders after a recovery: their positions are past the `retired` ones; then every component caught up. */
async function newCommandsPast(retired: number, seed: number): Promise<number> {
  const newHead = await appendOrders(200, seed);
  expect(newHead).toBeGreaterThan(retired);
  await caughtUp();
  return newHead;
}

/** Where `recover` writes its report: the working folder, named for the namespace. */
const recoveryReportFile = () => join(workdir, `orderly-recovery-${env.namespace}.json`);
const recoveryReport = async <T>(): Promise<T> => JSON.parse(await readFile(recoveryReportFile(), "utf8")) as T;

beforeEach(async () => {
  env = await stackEnvironment();
  workdir = await mkdtemp(join(tmpdir(), "orderly-recover-"));
  pool = createPool(env.databaseUrl, { max: 4 });
  await migrateEventStore(pool);
  await migrateReadModels(pool);
  await startServices();
});

afterEach(async () => {
  projectorEnv = {};
  await stopServices();
  await pool?.end();
  await env?.cleanup();
  await rm(workdir, { recursive: true, force: true });
});

afterAll(async () => {
  await Promise.all(services.map((s) => s.kill()));
});

describe("pnpm orderly recover", () => {
  it("after Postgres is restored from a backup taken mid-run: verify 1, recover 0, verify 0, new commands everywhere", async () => {
    // Postgres goes back, the services come back, and commands keep coming before anyone notices.
    const { headBefore, restoredHead } = await restoredBehindTheStream(1500, 1500, 300, 1);
    expect(restoredHead).toBeLessThan(headBefore);

    const found = await orderly("verify", "--json");
    expect(found.code).toBe(1);
    const verdict = JSON.parse(found.stdout) as { findings: string[] };
    expect(verdict.findings.join("\n")).toMatch(/stream .*(different|phantom)/);

    const recovered = await orderly("recover");
    expect(recovered.stderr + recovered.stdout).toContain("plan: reset");
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    expect((await orderly("verify")).code).toBe(0);

    // The report lists the lost events: what the stream held beyond what the store kept.
    const report = await recoveryReport<{
      lost: { position: number; orderId: string; type: string }[];
      retired: { first: number; last: number };
    }>();
    expect(report.lost.length).toBeGreaterThan(0);
    expect(report.retired.last).toBeGreaterThanOrEqual(headBefore);

    // New commands get positions nobody saw before and reach both read models and the stream.
    await newCommandsPast(report.retired.last, 4);
    const after = await orderly("verify", "--json");
    expect(after.code, after.stdout).toBe(0);

    // Safe to run twice: nothing left to do.
    const again = await orderly("recover", "--json");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).plan.mode).toBe("none");
  }, 420_000);

  // ADR 0019: with partitioned projectors every partition's checkpoint is read, judged and moved as the one checkpoint
  // of an unpartitioned read model is. Before, recover moved partition 0's only: the others stayed ahead of the store
  // (the rebuild's swap caught up to them; their projectors stayed diverged, unready).
  it("partitioned projectors (PROJECTOR_PARTITIONS=2): every partition's checkpoint ahead of the restored store is recovered", async () => {
    await stopServices();
    projectorEnv = { PROJECTOR_PARTITIONS: "2", PROJECTOR_LEASE_INTERVAL_MS: "300" };
    await startServices();
    const { headBefore } = await restoredBehindTheStream(1200, 1200, 200, 21);

    // Status names every partition of customer_orders (Redis, not restored) as ahead of the store.
    const status = await orderly("status", "--json");
    expect(status.code).toBe(1);
    const findings = (JSON.parse(status.stdout) as { findings: string[] }).findings.join("\n");
    expect(findings).toMatch(/customer_orders.* partition 0: ahead/);
    expect(findings).toMatch(/customer_orders.* partition 1: ahead/);

    const recovered = await orderly("recover");
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.stderr + recovered.stdout).toMatch(/customer_orders partition 1 of 2: checkpoint moved from \d+/);
    expect((await orderly("verify")).code).toBe(0);
    const report = await recoveryReport<{ retired: { first: number; last: number } }>();
    expect(report.retired.last).toBeGreaterThanOrEqual(headBefore);

    // New commands reach every partition of both read models: each at the store's head, nothing ahead, verify 0.
    const newHead = await newCommandsPast(report.retired.last, 24);
    const after = await orderly("status", "--json");
    expect(after.code, after.stdout).toBe(0);
    const readModels = (
      JSON.parse(after.stdout) as {
        components: { component: string; partitions?: { state: string; position: number }[] }[];
      }
    ).components.filter((c) => c.component.startsWith("read model"));
    expect(readModels).toHaveLength(2);
    for (const model of readModels) {
      expect(model.partitions?.map((p) => [p.state, p.position])).toEqual([
        ["ok", newHead],
        ["ok", newHead],
      ]);
    }
    expect((await orderly("verify")).code).toBe(0);
    const again = await orderly("recover", "--json");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).plan.mode).toBe("none");
  }, 420_000);

  it("a fresh database under an old namespace: the store is refilled from the stream", async () => {
    const head = await appendOrders(1000, 5);
    await caughtUp();
    await stopServices();
    await pool.end();
    await replaceDatabase(env.databaseUrl);
    pool = createPool(env.databaseUrl, { max: 4 });
    await migrateEventStore(pool);
    await migrateReadModels(pool);
    await startServices("healthz");

    expect((await orderly("verify")).code).toBe(1);
    const recovered = await orderly("recover", "--json");
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    expect(JSON.parse(recovered.stdout).plan.mode).toBe("refill");
    expect(await new PostgresEventStore(pool).headPosition()).toBe(head);

    await appendOrders(100, 6);
    await caughtUp();
    expect((await orderly("verify")).code).toBe(0);
  }, 420_000);

  it("--dry-run changes nothing; --reappend brings back the lost events of untouched orders, once", async () => {
    // Other orders after the restore: the store now holds other events than the stream at those positions (reset).
    await restoredBehindTheStream(1000, 600, 100, 11);
    const reportFile = recoveryReportFile();
    const eventCount = async () => Number((await pool.query("select count(*)::int as n from events")).rows[0].n);

    // --dry-run: the plan, and nothing else.
    const countBefore = await eventCount();
    const dry = await orderly("recover", "--dry-run", "--json");
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout) as { plan: { mode: string; lost: number; maxSeen: number } };
    expect(planned.plan.mode).toBe("reset");
    expect(planned.plan.lost).toBeGreaterThan(0);
    expect(await eventCount()).toBe(countBefore);
    await expect(readFile(reportFile, "utf8")).rejects.toThrow(/ENOENT/);
    expect((await pool.query("select count(*)::int as n from retired_positions")).rows[0].n).toBe(0);
    expect((await orderly("verify")).code).toBe(1);

    const recovered = await orderly("recover", "--reappend", "--json");
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as {
      lost: { orderId: string; streamVersion: number; eventId: string }[];
      reappended: { orderId: string; events: number; outcome: string; position?: number }[];
      retired: { first: number; last: number };
    };
    expect(report.lost.length).toBe(planned.plan.lost);
    const lostOrders = new Map<string, number>();
    for (const e of report.lost) lostOrders.set(e.orderId, Math.max(lostOrders.get(e.orderId) ?? 0, e.streamVersion));
    // Nobody touched those orders after the restore: every one comes back, as new events past the retired positions.
    expect(report.reappended.filter((r) => r.outcome !== "appended")).toEqual([]);
    expect(new Set(report.reappended.map((r) => r.orderId))).toEqual(new Set(lostOrders.keys()));
    expect(Math.min(...report.reappended.map((r) => r.position ?? 0))).toBeGreaterThan(report.retired.last);
    expect(await eventCount()).toBe(countBefore + report.lost.length);
    const caused = await pool.query<{ n: number }>(
      "select count(*)::int as n from events where causation_id = any($1::uuid[])",
      [report.lost.map((e) => e.eventId)],
    );
    expect(caused.rows[0]?.n).toBe(report.lost.length);

    // Both read models show them at the version the lost events had reached.
    await caughtUp();
    expect((await orderly("verify")).code).toBe(0);
    const { rows } = await pool.query<{ order_id: string; version: string }>(
      "select order_id::text, version::text from order_summaries where order_id = any($1::uuid[])",
      [[...lostOrders.keys()]],
    );
    expect(new Map(rows.map((r) => [r.order_id, Number(r.version)]))).toEqual(lostOrders);

    // Run again: nothing to do, nothing appended twice.
    const again = await orderly("recover", "--reappend", "--json");
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).plan.mode).toBe("none");
    expect(await eventCount()).toBe(countBefore + report.lost.length);
    const second = JSON.parse(await readFile(reportFile, "utf8")) as { reappended: { outcome: string }[] };
    expect(second.reappended.every((r) => r.outcome === "already re-appended")).toBe(true);
  }, 420_000);

  // Before the fix (CI, 05:17 UTC): the final `recover` after two interrupted runs exited 0 but the components never
  // caught up. The path found by reading the code (not reproduced on a quiet host): the rerun "finishing an interrupted reset" put the read models' checkpoints back from the retired
  // positions onto the store's last event under the running projectors (the Redis one took that for lost data and
  // started a new generation), the move past the retired positions then found them elsewhere and left them below the
  // range, and the projectors' catch-up stopped at the first retired position for good.
  it("is safe to interrupt: killed mid-way, run again, it finishes the job", async () => {
    await restoredBehindTheStream(1500, 1500, 200, 7);

    // Kill it at four points: after the report is written, after the positions were retired (before any read model
    // was touched), in the middle of the rebuilds (order_summaries swapped, customer_orders' shadow being filled), and
    // after the stream was recreated (a running relay republishes it meanwhile).
    const killed: string[] = [];
    for (const line of [
      /lost event\(s\) listed/,
      /retired positions/,
      /rebuilding customer_orders/,
      /stream recreated/,
    ]) {
      const child = spawn(process.execPath, [cli, "recover"], {
        env: { ...process.env, ...env.env },
        cwd: workdir,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      await new Promise<void>((resolve) => {
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          if (!killed.includes(line.source) && line.test(output) && child.kill("SIGKILL")) {
            killed.push(line.source);
            resolve();
          }
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", onData);
        void exited.then(() => resolve());
      });
      await exited;
    }
    // Every run was killed where meant to, not allowed to finish.
    expect(killed).toHaveLength(4);
    const finished = await orderly("recover");
    expect(finished.code, finished.stdout + finished.stderr).toBe(0);
    await appendOrders(100, 10);
    await caughtUp();
    expect((await orderly("verify")).code).toBe(0);
  }, 420_000);
});
