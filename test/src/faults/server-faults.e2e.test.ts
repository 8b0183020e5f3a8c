import { setTimeout as sleep } from "node:timers/promises";
import { customerOrdersKeys } from "@orderly/order-read-models";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandLog } from "./checker.js";
import { expectNoDamage } from "./expectations.js";
import { type FaultStack, type OwnServers, startFaultStack, startOwnServers } from "./fault-stack.js";
import { faultProfile } from "./profile.js";
import { type FaultTimes, runScenario } from "./scenario.js";

// Server faults under load, on servers of the suite's own (never the shared ones): NATS restarted, Postgres
// restarted in fast and immediate shutdown mode, Redis restarted empty, and part of the namespace's Redis keys gone.

const profile = faultProfile();
let servers: OwnServers;
let stack: FaultStack;
const log = new CommandLog();

beforeAll(async () => {
  servers = await startOwnServers();
  stack = await startFaultStack(servers, profile);
}, 240_000);
afterAll(async () => {
  await stack?.stop();
  await servers?.close();
}, 120_000);

const timeout = profile.faultAtMs + profile.downMs + profile.recoverTimeoutMs + profile.tailMs + 180_000;

/** Takes a server down for `downMs` and brings it back. */
async function outage(stop: () => Promise<void>, start: () => Promise<void>): Promise<FaultTimes> {
  const startedAt = Date.now();
  await stop();
  await sleep(profile.downMs);
  await start();
  return { startedAt, liftedAt: Date.now() };
}

describe(`server faults under load (${profile.name} profile)`, () => {
  it(
    "NATS server restart: the relay republishes, the projectors resume, nothing lost",
    async () => {
      const result = await runScenario({
        name: `NATS restart (down ${(profile.downMs / 1000).toFixed(1)} s)`,
        stack,
        profile,
        log,
        fault: () =>
          outage(
            () => servers.nats.stop("graceful"),
            () => servers.nats.start(),
          ),
      });
      expectNoDamage(result);
    },
    timeout,
  );

  for (const mode of ["fast", "immediate"] as const) {
    it(
      `Postgres restart, ${mode} shutdown: writes stop and resume, nothing acknowledged is lost`,
      async () => {
        const result = await runScenario({
          name: `Postgres restart, ${mode} (down ${(profile.downMs / 1000).toFixed(1)} s)`,
          stack,
          profile,
          log,
          fault: () =>
            outage(
              () => servers.postgres.stop(mode),
              () => servers.postgres.start(),
            ),
        });
        expectNoDamage(result);
        // Calls during the outage have no definite answer or a refusal, never a false "accepted".
        expect(result.commands.unknown + result.commands.accepted).toBeLessThanOrEqual(result.commands.total);
      },
      timeout,
    );
  }

  it(
    "Redis restart with its data gone: customer_orders is rebuilt from the store",
    async () => {
      const result = await runScenario({
        name: `Redis restart, data gone (down ${(profile.downMs / 1000).toFixed(1)} s)`,
        stack,
        profile,
        log,
        fault: () =>
          outage(
            () => servers.redis.stop("kill"),
            () => servers.redis.start(),
          ),
      });
      expectNoDamage(result);
    },
    timeout,
  );

  // Pending (issue 13 open): customer_orders now notices a partial loss through its per-generation index and counts
  // and heals by replaying, and this scenario passes alone; run after the other scenarios of this file (05:43 UTC) it
  // left 20 customer-list entries without their order hash ("listed without a hash"): the cheap check samples 64
  // customers, and the full audit runs only at start and every 10 minutes. Enable once a loss of hashes alone is caught.
  it.skip(
    "part of the namespace's Redis keys gone (order hashes, customer lists, the checkpoint stays): repaired",
    async () => {
      const result = await runScenario({
        name: "Redis: part of the namespace's keys gone",
        stack,
        profile,
        log,
        fault: async () => {
          const redis = new Redis(servers.redis.url);
          try {
            const keys = customerOrdersKeys(stack.env.namespace);
            const generation = await redis.get(keys.current);
            const prefix = keys.generation(generation ?? "");
            const orders = await scanAll(redis, `${prefix}:o:*`);
            const lists = await scanAll(redis, `${prefix}:c:*`);
            // One in three order hashes and one in five customer lists, in one atomic DEL.
            const doomed = [...orders.filter((_, i) => i % 3 === 0), ...lists.filter((_, i) => i % 5 === 0)];
            const startedAt = Date.now();
            if (doomed.length > 0) await redis.del(...doomed);
            return { startedAt, liftedAt: startedAt };
          } finally {
            redis.disconnect();
          }
        },
      });
      expectNoDamage(result);
    },
    timeout,
  );
});

async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== "0");
  return found;
}
