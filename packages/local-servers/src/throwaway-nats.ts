import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { freePort } from "./free-port.js";
import { ownedTempDir, spawnOwned, startSignalledServer, type ThrowawayServer, waitForLine } from "./owned-process.js";

const natsServerBin = process.env.ORDERLY_TEST_NATS_SERVER ?? "nats-server";

export interface NatsServer extends ThrowawayServer {
  readonly port: number;
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  /** The JetStream store folder (kept across restarts). */
  readonly storeDir: string;
}

/** `args`: more nats-server arguments (e.g. `["-c", configFile]` for TLS and users). */
export async function startNatsServer(
  options: { readyTimeoutMs?: number; args?: readonly string[] } = {},
): Promise<NatsServer> {
  const root = await ownedTempDir("orderly-nats-", undefined);
  return startNatsNode(root, await freePort(), options.args ?? [], options.readyTimeoutMs, true);
}

/** One nats-server with JetStream, its store in `<root>/jetstream`; `close` stops it (the caller removes `root`). */
async function startNatsNode(
  root: string,
  port: number,
  extraArgs: readonly string[],
  readyTimeoutMs = 30_000,
  /** `close` removes `root` too (a single server's own folder; a cluster removes its own). */
  ownsRoot = false,
): Promise<NatsServer> {
  const storeDir = join(root, "jetstream");
  const server = await startSignalledServer(
    () => spawnOwned(natsServerBin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir, ...extraArgs], {}),
    (proc) => waitForLine(proc, /Server is ready/, "nats-server", readyTimeoutMs),
    port,
    `nats://127.0.0.1:${port}`,
    ownsRoot ? root : undefined,
  );
  return Object.assign(server, { storeDir });
}

export interface NatsCluster {
  /** The nodes, each a server of its own that can be stopped, killed and started again (same port and store). */
  readonly nodes: readonly NatsServer[];
  /** Every node's client URL, comma-separated: the cluster's NATS_URL. */
  readonly url: string;
  /** Resolves once JetStream answers through every running node (a meta leader is elected and known to each). */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes their folders. */
  close(): Promise<void>;
}

/**
 * A NATS cluster on loopback: `nodes` nats-servers (default 3) with JetStream, full-mesh routes and a store folder
 * each, for tests that take a stream's replicas to a node loss. Resolves once JetStream answers through every node.
 */
export async function startNatsCluster(
  options: { nodes?: number; readyTimeoutMs?: number } = {},
): Promise<NatsCluster> {
  const count = options.nodes ?? 3;
  const root = await ownedTempDir("orderly-nats-cluster-", undefined);
  const ports: { client: number; route: number }[] = [];
  for (let i = 0; i < count; i++) ports.push({ client: await freePort(), route: await freePort() });
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(",");
  const nodes: NatsServer[] = [];
  const cluster: NatsCluster = {
    nodes,
    url: ports.map((p) => `nats://127.0.0.1:${p.client}`).join(","),
    async waitForJetStream(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (const node of nodes) {
        if (!node.running) continue;
        while (!(await jetStreamAnswers(node.url))) {
          if (Date.now() > deadline) {
            throw new Error(`JetStream of the NATS cluster did not answer at ${node.url} within ${timeoutMs} ms`);
          }
          await sleep(250);
        }
      }
    },
    async close() {
      await Promise.allSettled(nodes.map((node) => node.stop("kill")));
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    const started = await Promise.all(
      ports.map(async (p, i) => {
        const dir = join(root, `n${i + 1}`);
        await mkdir(dir);
        return startNatsNode(
          dir,
          p.client,
          [
            "-n",
            `orderly-test-n${i + 1}`,
            "--cluster_name",
            "orderly-test",
            "--cluster",
            `nats://127.0.0.1:${p.route}`,
            "--routes",
            routes,
          ],
          options.readyTimeoutMs,
        );
      }),
    );
    nodes.push(...started);
    await cluster.waitForJetStream(options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

async function jetStreamAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, timeout: 1_000, reconnect: false });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      await jsm.getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}
