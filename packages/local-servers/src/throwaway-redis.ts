import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./free-port.js";
import {
  ownedTempDir,
  run,
  spawnOwned,
  startSignalledServer,
  type ThrowawayServer,
  waitForLine,
} from "./owned-process.js";

const redisServerBin = process.env.ORDERLY_TEST_REDIS_SERVER ?? "redis-server";
const redisCliBin = process.env.ORDERLY_TEST_REDIS_CLI ?? "redis-cli";

/** `start` starts again on the same port, empty (the server keeps nothing on disk: `--save ''`, no AOF), and so
 * `restart` leaves no key. */
export interface RedisServer extends ThrowawayServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
}

/**
 * `args(port)`: more redis-server arguments; given the free port picked, e.g. to serve TLS on it (`--port 0
 * --tls-port <port>`; a later `--port` wins).
 */
export async function startRedisServer(
  options: { readyTimeoutMs?: number; args?: (port: number) => readonly string[] } = {},
): Promise<RedisServer> {
  const root = await ownedTempDir("orderly-redis-", undefined);
  const port = await freePort();
  const extraArgs = options.args?.(port) ?? [];
  return startSignalledServer(
    () =>
      spawnOwned(
        redisServerBin,
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
          "--dir",
          root,
          ...extraArgs,
        ],
        {},
      ),
    (proc) => waitForLine(proc, /Ready to accept connections/, "redis-server", options.readyTimeoutMs ?? 30_000),
    port,
    `redis://127.0.0.1:${port}`,
    root,
  );
}

export interface RedisCluster {
  /** The masters, each a `redis-server --cluster-enabled yes` of its own folder (its nodes.conf there). */
  readonly nodes: readonly RedisServer[];
  /** The seed addresses for a cluster client (`new Cluster(cluster.seeds)`). */
  readonly seeds: readonly { host: string; port: number }[];
  /** REDIS_URL for Orderly's processes: every node's `redis://` URL, comma-separated (a list means a cluster). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` nodes (default 3, no replicas) on loopback: each node started with
 * `--cluster-enabled yes`, then `redis-cli --cluster create ... --cluster-yes` assigns the 16384 slots. Resolves once
 * every node reports `cluster_state:ok`. `args(port)`: more arguments of each node (e.g. TLS on its port, an ACL file,
 * `--cluster-announce-hostname`); `cli`: redis-cli's connection arguments for the set-up (e.g. `--tls --cacert <ca>
 * --user <u> --pass <p>`).
 */
export async function startRedisCluster(
  options: {
    masters?: number;
    readyTimeoutMs?: number;
    args?: (port: number) => readonly string[];
    cli?: readonly string[];
  } = {},
): Promise<RedisCluster> {
  const cli = options.cli ?? [];
  const count = options.masters ?? 3;
  const nodes: RedisServer[] = [];
  const cluster: RedisCluster = {
    nodes,
    get seeds() {
      return nodes.map((n) => ({ host: "127.0.0.1", port: n.port }));
    },
    get url() {
      return nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(",");
    },
    async close() {
      await Promise.allSettled(nodes.map((n) => n.close()));
    },
  };
  try {
    for (let i = 0; i < count; i++) {
      // nodes.conf is written in the working folder: each node keeps its own (its --dir).
      nodes.push(
        await startRedisServer({
          ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
          args: (port) => [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "5000",
            ...(options.args?.(port) ?? []),
          ],
        }),
      );
    }
    await run(redisCliBin, [
      ...cli,
      "--cluster",
      "create",
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    for (const node of nodes) {
      while (true) {
        const { stdout } = await run(redisCliBin, [
          ...cli,
          "-h",
          "127.0.0.1",
          "-p",
          String(node.port),
          "cluster",
          "info",
        ]);
        if (/cluster_state:ok/.test(stdout)) break;
        if (Date.now() > deadline) throw new Error(`Redis Cluster node ${node.port} not ok in time:\n${stdout}`);
        await sleep(100);
      }
    }
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}
