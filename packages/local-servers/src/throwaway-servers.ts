import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { freePort } from "./free-port.js";
import { postgresRunAs } from "./servers.js";

// Servers a test owns: its own Postgres, NATS or Redis in a temp folder on a free loopback port, for tests that
// restart, kill, wipe or restore a server (never the shared ones, which hold other tenants' data). Each can be stopped
// and started again on the same port and folder; every one still running is killed when the test worker exits.

const run = promisify(execFile);

export const postgresBin = process.env.ORDERLY_TEST_POSTGRES_BIN ?? "/usr/lib/postgresql/15/bin";
const natsServerBin = process.env.ORDERLY_TEST_NATS_SERVER ?? "nats-server";
const redisServerBin = process.env.ORDERLY_TEST_REDIS_SERVER ?? "redis-server";
const redisCliBin = process.env.ORDERLY_TEST_REDIS_CLI ?? "redis-cli";

/** How a server goes down: `graceful` (SIGTERM), or `kill` (SIGKILL, as when its machine or container dies). */
export type StopMode = "graceful" | "kill";

/** What every throwaway server offers: it can be stopped in a mode, started again on the same port and folder. */
export interface ThrowawayServer<Mode extends string = StopMode> {
  readonly running: boolean;
  /** Everything the current (or last) process printed. */
  output(): string;
  stop(mode?: Mode): Promise<void>;
  start(): Promise<void>;
  /** Stops in `mode` and starts again on the same port and folder. */
  restart(mode?: Mode): Promise<void>;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

/**
 * Postgres shutdown modes (`pg_ctl stop -m`): smart = SIGTERM, fast = SIGINT (sessions cut, clean checkpoint),
 * immediate = SIGQUIT (no checkpoint: crash recovery from the WAL at the next start, like a power cut).
 */
export type PostgresStopMode = "smart" | "fast" | "immediate";

interface OwnedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  output(): string;
}

const owned = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of owned) child.kill("SIGKILL");
});

function spawnOwned(
  command: string,
  args: readonly string[],
  options: { user?: { uid: number; gid: number }; cwd?: string },
): OwnedProcess {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  owned.add(child);
  let out = "";
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      owned.delete(child);
      resolve();
    });
    child.once("error", (error) => {
      out += `\n${String(error)}`;
      owned.delete(child);
      resolve();
    });
  });
  return { child, exited, output: () => out };
}

async function waitForLine(proc: OwnedProcess, line: RegExp, what: string, timeoutMs: number): Promise<void> {
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!line.test(proc.output())) {
    if (exited) throw new Error(`${what} exited before it was ready:\n${proc.output().slice(-3000)}`);
    if (Date.now() > deadline) {
      proc.child.kill("SIGKILL");
      throw new Error(`${what} was not ready within ${timeoutMs} ms:\n${proc.output().slice(-3000)}`);
    }
    await sleep(25);
  }
}

async function signalAndWait(
  proc: OwnedProcess | undefined,
  signal: NodeJS.Signals,
  timeoutMs = 30_000,
): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), timeoutMs);
  try {
    await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A server process that can be stopped (in one of its `Mode`s, each a signal), started again with the same arguments
 * and restarted: the part every throwaway server shares. `launch` spawns it; `ready` resolves once it serves.
 */
class RestartableProcess<Mode extends string> {
  #proc: OwnedProcess | undefined;

  constructor(
    private readonly launch: () => OwnedProcess,
    private readonly ready: (proc: OwnedProcess) => Promise<void>,
    private readonly signals: Record<Mode, NodeJS.Signals>,
    private readonly defaultMode: Mode,
  ) {}

  get running(): boolean {
    const proc = this.#proc;
    return proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;
  }

  readonly output = (): string => this.#proc?.output() ?? "";

  readonly start = async (): Promise<void> => {
    if (this.running) return;
    this.#proc = this.launch();
    await this.ready(this.#proc);
  };

  readonly stop = (mode: Mode = this.defaultMode): Promise<void> => signalAndWait(this.#proc, this.signals[mode]);

  readonly restart = async (mode: Mode = this.defaultMode): Promise<void> => {
    await this.stop(mode);
    await this.start();
  };
}

const stopSignals: Record<StopMode, NodeJS.Signals> = { graceful: "SIGTERM", kill: "SIGKILL" };

async function ownedTempDir(prefix: string, user: { uid: number; gid: number } | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (user) await chown(dir, user.uid, user.gid);
  return dir;
}

// ---- Postgres ------------------------------------------------------------------------------------------------------

/** `close` stops the server (immediate) and removes its folder. */
export interface PostgresServer extends ThrowawayServer<PostgresStopMode> {
  readonly port: number;
  /** The cluster's data folder (inside the server's temp folder). */
  readonly dataDir: string;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication). */
  readonly adminUrl: string;
  /** The URL of database `name` on this server. */
  databaseUrl(name: string): string;
  /** A physical base backup (pg_basebackup, WAL streamed) of the running cluster, taken online; its folder. */
  backup(): Promise<string>;
  /** Stops the server (fast), replaces its data folder with a copy of `backupDir` and starts it: the cluster goes back. */
  restore(backupDir: string): Promise<void>;
}

export interface PostgresServerOptions {
  /** Extra `-c name=value` settings. */
  readonly settings?: Record<string, string>;
  /** Replaces pg_hba.conf (default: initdb's, trust for everyone). */
  readonly hba?: string;
  readonly readyTimeoutMs?: number;
  /**
   * A streaming replica of this server instead of a new cluster: its data folder is a `pg_basebackup -R` of the
   * primary (standby.signal and primary_conninfo written), so it replays the primary's WAL and answers reads only.
   */
  readonly replicaOf?: PostgresServer;
}

export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const user = postgresRunAs();
  const root = await ownedTempDir("orderly-pg-", user);
  const dataDir = join(root, "data");
  const socketDir = join(root, "socket");
  await mkdir(socketDir);
  if (user) await chown(socketDir, user.uid, user.gid);
  const port = await freePort();
  if (options.replicaOf) {
    await runAs(user, join(postgresBin, "pg_basebackup"), [
      ...["-h", "127.0.0.1", "-p", String(options.replicaOf.port), "-U", "postgres", "-D", dataDir],
      ...["-X", "stream", "-c", "fast", "-R", "--no-sync"],
    ]);
  } else {
    await runAs(user, join(postgresBin, "initdb"), [
      "-D",
      dataDir,
      "-A",
      "trust",
      "-U",
      "postgres",
      "-E",
      "UTF8",
      "--no-sync",
      "--locale=C",
    ]);
  }
  if (options.hba !== undefined) {
    await writeFile(join(dataDir, "pg_hba.conf"), options.hba);
    if (user) await chown(join(dataDir, "pg_hba.conf"), user.uid, user.gid);
  }
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: socketDir,
    max_connections: "200",
    shared_buffers: "64MB",
    log_min_messages: "warning",
    ...options.settings,
  };
  const args = [
    "-D",
    dataDir,
    "-p",
    String(port),
    ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
  ];
  let backups = 0;
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  // log_min_messages=warning hides the ready line: poll pg_isready instead.
  const postmaster = new RestartableProcess<PostgresStopMode>(
    () => spawnOwned(join(postgresBin, "postgres"), args, { user, cwd: root }),
    async (current) => {
      const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
      let exited = false;
      void current.exited.then(() => {
        exited = true;
      });
      while (true) {
        const ready = await run(join(postgresBin, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port), "-t", "1"])
          .then(() => true)
          .catch(() => false);
        if (ready) return;
        if (exited) throw new Error(`postgres exited before it was ready:\n${current.output().slice(-3000)}`);
        if (Date.now() > deadline) {
          current.child.kill("SIGQUIT");
          throw new Error(`postgres was not ready in time:\n${current.output().slice(-3000)}`);
        }
        await sleep(100);
      }
    },
    { smart: "SIGTERM", fast: "SIGINT", immediate: "SIGQUIT" },
    "fast",
  );
  const { start, stop } = postmaster;
  await start();
  const server: PostgresServer = Object.assign(postmaster, {
    port,
    dataDir,
    adminUrl,
    databaseUrl: (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`,
    async backup() {
      backups += 1;
      const dir = join(root, `backup-${backups}`);
      await runAs(user, join(postgresBin, "pg_basebackup"), [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-D",
        dir,
        "-X",
        "stream",
        "-c",
        "fast",
        "--no-sync",
      ]);
      return dir;
    },
    async restore(backupDir: string) {
      await stop("fast");
      await rm(dataDir, { recursive: true, force: true });
      // cp -a keeps the owner and the 0700 mode Postgres insists on.
      await run("cp", ["-a", backupDir, dataDir]);
      await start();
    },
    async close() {
      await stop("immediate");
      await rm(root, { recursive: true, force: true });
    },
  });
  return server;
}

async function runAs(user: { uid: number; gid: number } | undefined, file: string, args: string[]): Promise<void> {
  const proc = spawnOwned(file, args, { user, cwd: tmpdir() });
  await proc.exited;
  if (proc.child.exitCode !== 0) {
    throw new Error(
      `${file} ${args.join(" ")} failed (${proc.child.exitCode ?? proc.child.signalCode}):\n${proc.output()}`,
    );
  }
}

// ---- NATS ----------------------------------------------------------------------------------------------------------

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
  const server = new RestartableProcess<StopMode>(
    () => spawnOwned(natsServerBin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir, ...extraArgs], {}),
    (proc) => waitForLine(proc, /Server is ready/, "nats-server", readyTimeoutMs),
    stopSignals,
    "graceful",
  );
  await server.start();
  return Object.assign(server, {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    async close() {
      await server.stop("kill");
      if (ownsRoot) await rm(root, { recursive: true, force: true });
    },
  });
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

// ---- Redis ---------------------------------------------------------------------------------------------------------

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
  const server = new RestartableProcess<StopMode>(
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
    stopSignals,
    "graceful",
  );
  await server.start();
  return Object.assign(server, {
    port,
    url: `redis://127.0.0.1:${port}`,
    async close() {
      await server.stop("kill");
      await rm(root, { recursive: true, force: true });
    },
  });
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
