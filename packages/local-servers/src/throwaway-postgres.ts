import { chown, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./free-port.js";
import { ownedTempDir, RestartableProcess, run, runAs, spawnOwned, type ThrowawayServer } from "./owned-process.js";
import { postgresRunAs } from "./postgres-user.js";

export const postgresBin = process.env.ORDERLY_TEST_POSTGRES_BIN ?? "/usr/lib/postgresql/15/bin";

/**
 * Postgres shutdown modes (`pg_ctl stop -m`): smart = SIGTERM, fast = SIGINT (sessions cut, clean checkpoint),
 * immediate = SIGQUIT (no checkpoint: crash recovery from the WAL at the next start, like a power cut).
 */
export type PostgresStopMode = "smart" | "fast" | "immediate";

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
