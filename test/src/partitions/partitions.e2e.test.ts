import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_MIX_TEXT, makeMix, parseMixWeights, runLoad } from "@orderly/loadtest";
import { eventually, freePort, type RunningService, startService } from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandLog, checkCommands, checkReadModels, positions } from "../faults/checker.js";
import { outputOf, runOrderly } from "../orderly-cli.js";
import { type Stack, serviceEntry, startStack } from "../query-service/stack.js";
import { loadtestSecurity } from "../secure-mode.js";

// Partitioned projectors (ADR 0019) as processes: each read model split 4 ways over two instances of its projector,
// which share the partitions through leases (Postgres advisory locks). Under load one instance of each is SIGKILLed:
// the other takes its partitions over, every accepted command ends up in both read models exactly once (equal to a
// fold of the store), and read-your-writes (GetOrderSummary with min_position, the lowest partition's checkpoint)
// holds throughout. Short profile in CI; ORDERLY_PARTITIONS_PROFILE=long runs 8× the load for longer.

const long = process.env.ORDERLY_PARTITIONS_PROFILE === "long";
const profile = long
  ? { rate: 300, beforeKillMs: 20_000, afterKillMs: 30_000 }
  : { rate: 100, beforeKillMs: 3_000, afterKillMs: 5_000 };
const PARTITIONS = 4;
const partitionEnv = { PROJECTOR_PARTITIONS: String(PARTITIONS), PROJECTOR_LEASE_INTERVAL_MS: "300" };

type Projector = "projector-postgres" | "projector-redis";
const projection: Record<Projector, string> = {
  "projector-postgres": "order_summaries",
  "projector-redis": "customer_orders",
};

let stack: Stack;
/** The second instance of each projector (the first is the stack's). */
const second = new Map<Projector, { service: RunningService; port: number }>();

async function startSecond(name: Projector): Promise<{ service: RunningService; port: number }> {
  const port = await freePort();
  const service = await startService({
    name: `${name}-b`,
    entry: serviceEntry(name),
    env: { ...stack.env.env, METRICS_PORT: String(port), LOG_FORMAT: "json", ...partitionEnv },
    readyUrl: `http://127.0.0.1:${port}/readyz`,
    readyTimeoutMs: 60_000,
  });
  return { service, port };
}

/** `projector_partitions_owned` of the instance on `port` (undefined when it does not answer). */
async function owned(name: Projector, port: number): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const match = text.match(
      new RegExp(`^projector_partitions_owned\\{projection="${projection[name]}"\\} (\\d+)$`, "m"),
    );
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  // A read waits out a takeover (lease look + catch-up) instead of answering UNAVAILABLE after the default 500 ms.
  stack = await startStack({ env: partitionEnv, queryEnv: { QUERY_MAX_WAIT_MS: "10000" } });
  for (const name of ["projector-postgres", "projector-redis"] as const) second.set(name, await startSecond(name));
}, 180_000);

afterAll(async () => {
  for (const { service } of second.values()) await service.stop();
  await stack?.stop();
}, 60_000);

describe(`partitioned projectors: ${PARTITIONS} partitions over 2 instances each (${long ? "long" : "short"} profile)`, () => {
  it("the instances share the partitions evenly", async () => {
    for (const name of ["projector-postgres", "projector-redis"] as const) {
      const ports = [stack.ports.metrics[name], (second.get(name) as { port: number }).port];
      await eventually(
        async () => {
          const counts = await Promise.all(ports.map((p) => owned(name, p)));
          return counts[0] === 2 && counts[1] === 2;
        },
        `${name}: 2 partitions on each instance`,
        30_000,
        200,
      );
    }
  });

  it("SIGKILL of one instance of each under load: the other takes its partitions over; nothing lost or doubled, read-your-writes throughout", async () => {
    const log = new CommandLog();
    const stopLoad = new AbortController();
    const load = runLoad({
      address: `127.0.0.1:${stack.ports.command}`,
      queryAddress: `127.0.0.1:${stack.ports.query}`,
      mode: "open",
      rate: profile.rate,
      durationMs: 3_600_000,
      signal: stopLoad.signal,
      timeoutMs: 10_000,
      maxInFlight: 2000,
      connections: 1,
      mix: makeMix(parseMixWeights(DEFAULT_MIX_TEXT), 0.02, 0.01),
      // Every accepted command's order is read back with min_position = its position.
      rywRate: 1,
      seed: 17,
      customers: 100,
      lateThresholdMs: 50,
      slo: [],
      onReply: log.record,
      ...loadtestSecurity(),
    });
    let takeoverMs: Record<string, number> = {};
    try {
      await sleep(profile.beforeKillMs);
      const killedAt = Date.now();
      await Promise.all(
        (["projector-postgres", "projector-redis"] as const).map((name) => second.get(name)?.service.kill()),
      );
      takeoverMs = {};
      await Promise.all(
        (["projector-postgres", "projector-redis"] as const).map(async (name) => {
          await eventually(
            async () => (await owned(name, stack.ports.metrics[name])) === PARTITIONS,
            `${name}: the surviving instance holds all ${PARTITIONS} partitions`,
            30_000,
            100,
          );
          takeoverMs[name] = Date.now() - killedAt;
        }),
      );
      await sleep(profile.afterKillMs);
    } finally {
      stopLoad.abort();
    }
    const report = await load;
    const databaseUrl = stack.env.databaseUrl;
    await eventually(
      async () => {
        const p = await positions(databaseUrl, stack.env.redisUrl, stack.env.namespace);
        return p.postgres >= p.head && p.redis >= p.head;
      },
      "both read models (every partition) at the store head",
      60_000,
      200,
    );
    const commands = await checkCommands(databaseUrl, log.records);
    const models = await checkReadModels(databaseUrl, stack.env.redisUrl, stack.env.namespace);
    console.log(
      `partitions: ${commands.total} commands (${commands.accepted} accepted), ryw ${report.ryw?.ok}/${report.ryw?.checks} (max ${report.ryw?.latency_ms.max} ms), takeover ${JSON.stringify(takeoverMs)} ms, orders ${models.orders}`,
    );
    expect(commands.accepted).toBeGreaterThan(profile.rate);
    expect(commands.lost).toBe(0);
    expect(models.differences.slice(0, 5)).toEqual([]);
    expect(models.postgres).toEqual({ right: models.orders, phantom: 0, missing: 0 });
    expect(models.redis).toEqual({ right: models.orders, phantom: 0, missing: 0 });
    // Read-your-writes: every check saw its own write (none stale, none timed out).
    expect(report.ryw?.checks ?? 0).toBeGreaterThan(profile.rate);
    expect(report.ryw?.error_messages ?? []).toEqual([]);
    expect(report.ryw?.ok).toBe(report.ryw?.checks);

    // The operator's CLI reads the partitioned read models as the query service does (the lowest partition).
    const verify = await runOrderly(["verify", "--json"], stack.env.env);
    expect(verify.code, outputOf(verify)).toBe(0);
  });

  it("a restarted instance gets its share back", async () => {
    const name = "projector-postgres";
    second.set(name, await startSecond(name));
    const port = (second.get(name) as { port: number }).port;
    await eventually(
      async () => (await owned(name, port)) === 2 && (await owned(name, stack.ports.metrics[name])) === 2,
      "2 partitions on each instance again",
      30_000,
      200,
    );
  });
});
