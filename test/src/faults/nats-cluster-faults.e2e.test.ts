import { setTimeout as sleep } from "node:timers/promises";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { streamName } from "@orderly/event-bus";
import {
  eventually,
  freePort,
  type NatsCluster,
  type RunningService,
  startNatsCluster,
  startPostgresServer,
  startRedisServer,
  startService,
} from "@orderly/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serviceEntry } from "../query-service/stack.js";
import { CommandLog, checkStream } from "./checker.js";
import { expectReadModelsConsistent } from "./expectations.js";
import { faultLoad } from "./fault-load.js";
import { type FaultStack, type OwnServers, type ServiceName, startFaultStack } from "./fault-stack.js";
import { faultProfile } from "./profile.js";
import { checkReadsUnderLoad, followEvents } from "./reads.js";

// The stream on a 3-node NATS cluster at 3 replicas (ORDERLY_STREAM_REPLICAS=3, NATS_URL listing the three nodes),
// two instances of every service, open-loop load on both command instances; each NATS node is SIGKILLed and restarted
// in turn, each time together with one relay or projector process. Every accepted command must end up in both read
// models and on the stream exactly once, in order. Meanwhile clients read their own writes back through both query
// instances (GetOrderSummary and ListCustomerOrders with min_position: never stale, and answering again after each
// node's loss), and a SubscribeEvents follower on the query service sees every position once, in order. CI runs the
// short profile (~60 s); the long one:
//   ORDERLY_FAULTS_PROFILE=long pnpm --filter @orderly/e2e exec vitest run src/faults/nats-cluster-faults.e2e.test.ts

const profile = faultProfile();
let cluster: NatsCluster;
let servers: OwnServers<NatsCluster>;
let stack: FaultStack;
const second = new Map<ServiceName, RunningService>();
let secondCommandPort: number;
let secondQueryPort: number;
let nc: NatsConnection;
let jsm: JetStreamManager;
const log = new CommandLog();
const ended = new AbortController();

beforeAll(async () => {
  const [natsCluster, postgres, redis] = await Promise.all([
    startNatsCluster(),
    startPostgresServer(),
    startRedisServer(),
  ]);
  cluster = natsCluster;
  servers = {
    postgres,
    nats: cluster,
    redis,
    async close() {
      await Promise.allSettled([postgres.close(), cluster.close(), redis.close()]);
    },
  };
  stack = await startFaultStack(servers, profile, { ORDERLY_STREAM_REPLICAS: "3" });
  // The second instance of each (the first ones are restarted by the fault stack when killed).
  secondCommandPort = await freePort();
  secondQueryPort = await freePort();
  for (const name of [
    "command-service",
    "outbox-relay",
    "projector-postgres",
    "projector-redis",
    "query-service",
  ] as const) {
    const metricsPort = await freePort();
    second.set(
      name,
      await startService({
        name: `${name}-2`,
        entry: serviceEntry(name),
        env: {
          ...stack.serviceEnv(),
          COMMAND_PORT: String(secondCommandPort),
          QUERY_PORT: String(secondQueryPort),
          QUERY_MAX_WAIT_MS: "30000",
          METRICS_PORT: String(metricsPort),
          LOG_FORMAT: "json",
          PROJECTOR_ACK_WAIT_MS: String(profile.ackWaitMs),
        },
        readyUrl: `http://127.0.0.1:${metricsPort}/readyz`,
        readyTimeoutMs: 90_000,
      }),
    );
  }
  nc = await connect({ servers: cluster.url.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  jsm = await jetstreamManager(nc);
}, 240_000);

afterAll(async () => {
  ended.abort();
  await nc?.close().catch(() => undefined);
  await Promise.allSettled([...second.values()].map((s) => s.stop("SIGTERM", 10_000)));
  await stack?.stop();
  await servers?.close();
}, 120_000);

async function streamInfo() {
  return jsm.streams.info(streamName(stack.env.namespace));
}

/** The stream's leader and both followers are current (a node that came back caught up). */
async function replicasCurrent(): Promise<boolean> {
  try {
    const info = await streamInfo();
    const replicas = info.cluster?.replicas ?? [];
    return (
      info.cluster?.leader !== undefined && replicas.length === 2 && replicas.every((r) => r.current && !r.offline)
    );
  } catch {
    return false;
  }
}

describe(`a 3-node NATS cluster under load, each node SIGKILLed in turn (${profile.name} profile)`, () => {
  it(
    "rides through every node loss: each accepted command in both read models and on the stream exactly once, in order",
    async () => {
      const info = await streamInfo();
      expect(info.config.num_replicas).toBe(3);
      await eventually(replicasCurrent, "the stream's three replicas to be current", 60_000, 250);

      const stopLoad = new AbortController();
      const load = (port: number, seed: number) =>
        faultLoad({
          port,
          rate: profile.rate / 2,
          seed,
          signal: stopLoad.signal,
          log,
          timeoutMs: profile.callTimeoutMs,
        });
      const loads = [load(stack.ports.command, 11), load(secondCommandPort, 12)];
      const reads = checkReadsUnderLoad({
        commandPorts: [stack.ports.command, secondCommandPort],
        queryPorts: [stack.ports.query, secondQueryPort],
        signal: stopLoad.signal,
      });
      const events = followEvents(stack.ports.query, ended.signal);
      // One relay or projector process dies with each node (the fault stack restarts it; its twin carries on).
      const alsoKilled: ServiceName[] = ["outbox-relay", "projector-postgres", "projector-redis"];
      const outages: {
        node: number;
        leader: string | undefined;
        published: number;
        downMs: number;
        backAt: number;
      }[] = [];
      try {
        await sleep(profile.faultAtMs);
        for (const [i, node] of cluster.nodes.entries()) {
          const before = (await streamInfo()).state.last_seq;
          const leader = (await streamInfo()).cluster?.leader;
          const downAt = Date.now();
          await node.stop("kill");
          const victim = alsoKilled[i];
          if (victim) await stack.kill(victim);
          // The relay goes on publishing with one node of three gone (a new stream leader if it was the leader's).
          await eventually(
            async () => {
              try {
                return (await streamInfo()).state.last_seq > before + 10;
              } catch {
                return false;
              }
            },
            `the stream to grow while node ${i + 1} is down`,
            30_000,
            200,
          );
          const published = (await streamInfo()).state.last_seq - before;
          const rest = profile.downMs - (Date.now() - downAt);
          if (rest > 0) await sleep(rest);
          await node.start();
          outages.push({ node: i + 1, leader, published, downMs: Date.now() - downAt, backAt: Date.now() });
          if (victim) await stack.restarted(victim);
          // The next node goes only once this one caught up: two nodes down at once is a quorum loss, not this test.
          await eventually(replicasCurrent, `node ${i + 1}'s replica to catch up`, 60_000, 250);
        }
        await sleep(profile.tailMs);
      } finally {
        stopLoad.abort();
        await Promise.allSettled([...loads, reads]);
      }
      const reports = await Promise.all(loads);
      const readReport = await reads;
      console.log(
        `NATS cluster outages: ${outages.map((o) => `node ${o.node} (leader was ${o.leader}) down ${(o.downMs / 1000).toFixed(1)} s, ${o.published} published meanwhile`).join("; ")}; ${reports.map((r) => `${r.ok}/${r.total} ok at ${r.rps.toFixed(0)}/s`).join(" and ")}`,
      );

      await expectReadModelsConsistent(stack, servers.redis.url, log, 0);
      const stream = await checkStream(stack.databaseUrl(), cluster.url, stack.env.namespace);
      expect(stream.examples).toEqual([]);
      expect(stream.missing).toBe(0);
      expect(stream.duplicatedOrUnordered).toBe(0);
      expect(stream.messages).toBe(stream.storeHead);
      expect(outages).toHaveLength(3);

      // Read-your-writes through both query instances: never a stale answer, and answers again after each node's loss.
      console.log(
        `reads: ${readReport.ok.summaries} GetOrderSummary + ${readReport.ok.lists} ListCustomerOrders showed their write; unanswered ${JSON.stringify(readReport.unanswered)}; ${readReport.commandsFailed} commands unanswered`,
      );
      expect(readReport.stale.slice(0, 10)).toEqual([]);
      expect(readReport.ok.summaries).toBeGreaterThan(20);
      expect(readReport.ok.lists).toBeGreaterThan(20);
      for (const o of outages) expect(readReport.okAt.some((at) => at > o.backAt)).toBe(true);
      const followed = await events.finish(stream.storeHead);
      console.log(`SubscribeEvents: ${followed.received} events up to ${followed.last}`);
      expect(followed.error).toBeUndefined();
      expect(followed.outOfOrder).toBe(0);
      expect(followed.gaps).toBe(0);
      expect(followed.last).toBe(stream.storeHead);
    },
    profile.faultAtMs + 3 * (profile.downMs + 120_000) + profile.tailMs + 180_000,
  );
});
