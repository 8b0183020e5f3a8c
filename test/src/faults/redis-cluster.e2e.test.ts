import { createRedisClient, redisMasters } from "@orderly/observability";
import { customerOrdersKeys } from "@orderly/order-read-models";
import {
  eventually,
  type NatsServer,
  type RedisCluster,
  startNatsServer,
  startPostgresServer,
  startRedisCluster,
} from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { outputOf, runOrderly } from "../orderly-cli.js";
import { CommandLog } from "./checker.js";
import { expectReadModelsConsistent } from "./expectations.js";
import { faultLoad } from "./fault-load.js";
import { type FaultStack, type OwnServers, startFaultStack } from "./fault-stack.js";
import { faultProfile } from "./profile.js";
import { checkReadsUnderLoad } from "./reads.js";

// The stack's services as processes against a Redis Cluster of the suite's own (3 masters: redis-server
// --cluster-enabled yes ×3, redis-cli --cluster create), REDIS_URL listing the three nodes — the contract the services
// read (@orderly/observability createRedisClient). Open-loop load on the command service, clients reading their own
// writes back (ListCustomerOrders and GetOrderSummary with min_position), and projector-redis SIGKILLed twice under
// the load (the stack restarts it, as a platform would). The projectors run 2 partitions (PROJECTOR_PARTITIONS=2,
// ADR 0019), so the per-partition checkpoint keys are on the cluster too, in the namespace's slot. Then: no accepted command lost, the Redis read model equal
// to a fold of the store row by row, no stale read, reads answered again after each restart, `orderly verify` agrees
// over the cluster, and the namespace's keys all in one slot of one master. CI runs the short profile (~40 s); the long
// one: ORDERLY_FAULTS_PROFILE=long pnpm --filter @orderly/e2e exec vitest run src/faults/redis-cluster.e2e.test.ts

const profile = faultProfile();
let cluster: RedisCluster;
let servers: OwnServers<NatsServer, RedisCluster>;
let stack: FaultStack;
const log = new CommandLog();

beforeAll(async () => {
  const [postgres, nats, redis] = await Promise.all([
    startPostgresServer(),
    startNatsServer(),
    startRedisCluster({ masters: 3 }),
  ]);
  cluster = redis;
  servers = {
    postgres,
    nats,
    redis,
    async close() {
      await Promise.allSettled([postgres.close(), nats.close(), redis.close()]);
    },
  };
  expect(cluster.url.split(",")).toHaveLength(3);
  stack = await startFaultStack(servers, profile, { PROJECTOR_PARTITIONS: "2" });
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  await servers?.close();
}, 120_000);

/** Open-loop load and the read checker while `fault` runs; resolves after the tail, with what both saw. */
async function underLoad(seed: number, fault: () => Promise<void>) {
  const stopLoad = new AbortController();
  const load = faultLoad({
    port: stack.ports.command,
    rate: profile.rate,
    seed,
    signal: stopLoad.signal,
    log,
    timeoutMs: profile.callTimeoutMs,
  });
  const reads = checkReadsUnderLoad({
    commandPorts: [stack.ports.command],
    queryPorts: [stack.ports.query],
    signal: stopLoad.signal,
  });
  try {
    await fault();
    await new Promise((r) => setTimeout(r, profile.tailMs + 2_000));
  } finally {
    stopLoad.abort();
    await Promise.allSettled([load, reads]);
  }
  return { report: await load, reads: await reads };
}

/** Once both read models caught up: every command so far kept, both read models equal to a fold of the store. */
const expectConsistent = () => expectReadModelsConsistent(stack, cluster.url, log, 100);

describe(`the services on a 3-master Redis Cluster (${profile.name} profile)`, () => {
  it(
    "under load with projector-redis SIGKILLed twice: nothing lost, customer_orders equals a fold of the store, read-your-writes holds",
    async () => {
      const restartedAt: number[] = [];
      const { report, reads: readReport } = await underLoad(21, async () => {
        for (let i = 0; i < 2; i++) {
          await new Promise((r) => setTimeout(r, profile.faultAtMs));
          await stack.kill("projector-redis");
          await stack.restarted("projector-redis");
          restartedAt.push(Date.now());
        }
      });
      console.log(
        `Redis Cluster: ${report.ok}/${report.total} commands ok at ${report.rps.toFixed(0)}/s; reads: ${readReport.ok.lists} ListCustomerOrders + ${readReport.ok.summaries} GetOrderSummary showed their write, unanswered ${JSON.stringify(readReport.unanswered)}; projector-redis restarts ${stack.restarts.filter((r) => r.name === "projector-redis").length}`,
      );
      const readModels = await expectConsistent();
      const { env } = stack;

      expect(readReport.stale.slice(0, 10)).toEqual([]);
      expect(readReport.ok.lists).toBeGreaterThan(20);
      for (const at of restartedAt) expect(readReport.okAt.some((t) => t > at)).toBe(true);
      expect(stack.restarts.map((r) => r.name)).toEqual(["projector-redis", "projector-redis"]);

      // The operator's CLI over the cluster: the read models agree with a fold of the store.
      const verify = await runOrderly(["verify", "--json"], stack.serviceEnv());
      expect(verify.code, outputOf(verify)).toBe(0);

      // Every key of the namespace in one slot, on one master of the three.
      const redis = createRedisClient(cluster.url, { cluster: true }, { maxRetriesPerRequest: 3 });
      try {
        await redis.get(customerOrdersKeys(env.namespace).current); // ready, the masters known
        const slot = Number(await redis.cluster("KEYSLOT", customerOrdersKeys(env.namespace).current));
        const perMaster = await Promise.all(
          redisMasters(redis).map(async (node) => Number(await node.cluster("COUNTKEYSINSLOT", slot))),
        );
        expect(perMaster).toHaveLength(3);
        expect(perMaster.filter((n) => n > 0)).toHaveLength(1);
        expect(Math.max(...perMaster)).toBeGreaterThan(readModels.orders);
        // ...and no key of the stack's elsewhere (the cluster is this test's own: scanning it is fine).
        let keys = 0;
        const strays: string[] = [];
        for (const node of redisMasters(redis)) {
          let cursor = "0";
          do {
            const [next, page] = await node.scan(cursor, "COUNT", 1000);
            cursor = next;
            keys += page.length;
            for (const key of page) {
              if (Number(await redis.cluster("KEYSLOT", key)) !== slot) strays.push(key);
            }
          } while (cursor !== "0");
        }
        expect(strays.slice(0, 10)).toEqual([]);
        expect(keys).toBe(Math.max(...perMaster));
      } finally {
        redis.disconnect();
      }
    },
    4 * profile.faultAtMs + 2 * profile.recoverTimeoutMs + profile.tailMs + 240_000,
  );

  it(
    "the master of the namespace's slot SIGKILLed under load and back empty: the loss is detected, customer_orders is rebuilt from the store, no stale read",
    async () => {
      // Masters without replicas and without persistence (as Orderly runs Redis): the slot is down while its master is,
      // and the master comes back with its slots (nodes.conf) but no keys.
      const redis = createRedisClient(cluster.url, { cluster: true }, { maxRetriesPerRequest: 3 });
      let master: (typeof cluster.nodes)[number] | undefined;
      try {
        const current = customerOrdersKeys(stack.env.namespace).current;
        await redis.get(current);
        const slot = Number(await redis.cluster("KEYSLOT", current));
        for (const node of redisMasters(redis)) {
          if (Number(await node.cluster("COUNTKEYSINSLOT", slot)) > 0) {
            master = cluster.nodes.find((n) => n.port === node.options.port);
          }
        }
      } finally {
        redis.disconnect();
      }
      if (!master) throw new Error("no master holds the namespace's slot");
      const victim = master;
      const restartsBefore = stack.restarts.length;
      let backAt = 0;
      const { report, reads } = await underLoad(22, async () => {
        await new Promise((r) => setTimeout(r, profile.faultAtMs));
        await victim.stop("kill");
        await new Promise((r) => setTimeout(r, profile.downMs));
        await victim.start();
        backAt = Date.now();
        await eventually(
          async () => Object.values(await stack.readiness()).every(Boolean),
          "every service ready after the master came back",
          profile.recoverTimeoutMs,
          250,
        );
      });
      const lost = (await stack.metrics("projector-redis").catch(() => ""))
        .split("\n")
        .filter((l) => l.startsWith("projection_data_lost_total{"));
      console.log(
        `Redis Cluster master loss: ${report.ok}/${report.total} commands ok; reads: ${reads.ok.lists} ListCustomerOrders + ${reads.ok.summaries} GetOrderSummary showed their write, unanswered ${JSON.stringify(reads.unanswered)}; restarts ${JSON.stringify(stack.restarts.slice(restartsBefore).map((r) => r.name))}; ${lost.join(", ")}`,
      );
      await expectConsistent();
      // The projector saw the keys gone (it said so and started over from the store), and no read was stale meanwhile.
      expect(lost.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0)).toBeGreaterThan(0);
      expect(reads.stale.slice(0, 10)).toEqual([]);
      expect(reads.okAt.some((t) => t > backAt)).toBe(true);
    },
    2 * profile.faultAtMs + profile.downMs + 2 * profile.recoverTimeoutMs + profile.tailMs + 240_000,
  );
});
