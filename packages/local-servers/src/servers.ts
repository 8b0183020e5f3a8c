import { execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { InstalledServers, ServerKind } from "./binaries.js";
import { osUser, postgresOsUser } from "./postgres-user.js";

/** A server this checkout started, as recorded in `<dataDir>/servers.json`. */
export interface ServerRecord {
  readonly kind: ServerKind;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Where its data lives. */
  readonly dataDir: string;
  readonly logFile: string;
  /** The operating-system user it runs as when that is not ours (Postgres started by root). */
  readonly runAs?: string;
  /** The program, to stop it (pg_ctl for Postgres) and to recognise its pid. */
  readonly program: string;
  readonly startedAt: string;
  /** True when this start created its data folder, false when it reused an earlier one. */
  readonly newData: boolean;
}

export const serverNames: Record<ServerKind, string> = { postgres: "Postgres", nats: "NATS", redis: "Redis" };

/** True for an address on this machine: the only place `pnpm start` ever runs a server of its own. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The host and port a dependency URL names (with the scheme's default port). */
export function addressOf(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  const defaults: Record<string, number> = {
    "postgres:": 5432,
    "postgresql:": 5432,
    "nats:": 4222,
    "redis:": 6379,
  };
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  return { host, port: parsed.port === "" ? (defaults[parsed.protocol] ?? 0) : Number(parsed.port) };
}

function stateFile(dataDir: string): string {
  return join(dataDir, "servers.json");
}

/** Every server recorded in the data folder, with whether its process still runs. */
export function listServers(dataDir: string): (ServerRecord & { running: boolean })[] {
  return readRecords(dataDir).map((r) => ({ ...r, running: isOurs(r) }));
}

function readRecords(dataDir: string): ServerRecord[] {
  try {
    return JSON.parse(readFileSync(stateFile(dataDir), "utf8")) as ServerRecord[];
  } catch {
    return [];
  }
}

function writeRecords(dataDir: string, records: readonly ServerRecord[]): void {
  const file = stateFile(dataDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(records, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

function remember(dataDir: string, record: ServerRecord): void {
  writeRecords(dataDir, [...readRecords(dataDir).filter((r) => r.kind !== record.kind), record]);
}

export interface StartOptions {
  /** The checkout's data folder (`.orderly/`); each server gets a subfolder. */
  readonly dataDir: string;
  readonly installed: InstalledServers;
  /** How long to wait for a server to accept connections. */
  readonly timeoutMs?: number;
}

/** Starts the checkout's own server for `url` (a loopback address nobody listens on). Reuses its earlier data. */
export async function startServer(kind: ServerKind, url: string, options: StartOptions): Promise<ServerRecord> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o755 });
  mkdirSync(join(options.dataDir, "logs"), { recursive: true, mode: 0o755 });
  const record =
    kind === "postgres"
      ? await startPostgres(url, options)
      : kind === "nats"
        ? await startNats(url, options)
        : await startRedis(url, options);
  remember(options.dataDir, record);
  return record;
}

async function startPostgres(url: string, options: StartOptions): Promise<ServerRecord> {
  const bin = options.installed.postgres;
  if (!bin) throw new Error("Postgres is not installed");
  const { host, port } = addressOf(url);
  const superuser = decodeURIComponent(new URL(url).username) || postgresOsUser;
  const pgdata = join(options.dataDir, "postgres");
  const socketDir = join(options.dataDir, "run");
  const logFile = join(options.dataDir, "logs", "postgres.log");
  const runAs = process.getuid?.() === 0 ? postgresOsUser : undefined;
  let owner: { uid: number; gid: number } | undefined;
  if (runAs) {
    owner = osUser(runAs);
    // The server's user must reach its folders: the data folder itself is ours and readable by all.
    for (const dir of [pgdata, socketDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chownSync(dir, owner.uid, owner.gid);
    }
    if (!existsSync(logFile)) writeFileSync(logFile, "");
    chownSync(logFile, owner.uid, owner.gid);
    chmodSync(options.dataDir, 0o755);
  } else {
    mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  }
  const run = (program: string, args: string[]) =>
    runAs
      ? execFileSync("runuser", ["-u", runAs, "--", program, ...args], execOptions)
      : execFileSync(program, args, execOptions);
  const newData = !existsSync(join(pgdata, "PG_VERSION"));
  if (newData) {
    try {
      run(bin.initdb, [
        "-D",
        pgdata,
        "-U",
        superuser,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
      ]);
    } catch (error) {
      throw new Error(`initdb failed: ${outputOf(error)}`);
    }
  }
  const listen = host === "localhost" ? "localhost" : host;
  const settings = [
    `-c listen_addresses='${listen}'`,
    `-p ${port}`,
    `-c unix_socket_directories='${socketDir}'`,
    "-c max_connections=200",
  ].join(" ");
  const timeoutS = Math.ceil((options.timeoutMs ?? 60_000) / 1000);
  try {
    run(bin.pgCtl, ["start", "-D", pgdata, "-l", logFile, "-w", "-t", String(timeoutS), "-o", settings]);
  } catch (error) {
    throw new Error(`pg_ctl start failed: ${outputOf(error)}\n${tail(logFile)}`);
  }
  const pid = Number.parseInt(readFileSync(join(pgdata, "postmaster.pid"), "utf8").split("\n")[0] ?? "", 10);
  return {
    kind: "postgres",
    host,
    port,
    pid,
    dataDir: pgdata,
    logFile,
    program: bin.pgCtl,
    ...(runAs ? { runAs } : {}),
    startedAt: new Date().toISOString(),
    newData,
  };
}

async function startNats(url: string, options: StartOptions): Promise<ServerRecord> {
  const { program, where } = serverFolder("nats", "nats-server", url, options);
  const bind = where.host === "localhost" ? "127.0.0.1" : where.host;
  const args = ["-a", bind, "-p", String(where.port), "-js", "-sd", where.dataDir, "-l", where.logFile];
  return spawnServer("nats", program, args, where);
}

async function startRedis(url: string, options: StartOptions): Promise<ServerRecord> {
  const { program, where } = serverFolder("redis", "redis-server", url, options);
  const bind = where.host === "localhost" ? ["127.0.0.1", "-::1"] : [where.host];
  // Append-only file, fsync every second: the read model survives a restart of the stack like the others' data.
  const args = [
    "--bind",
    ...bind,
    "--port",
    String(where.port),
    "--dir",
    where.dataDir,
    "--appendonly",
    "yes",
    "--save",
    "",
  ];
  return spawnServer("redis", program, [...args, "--logfile", where.logFile, "--daemonize", "no"], where);
}

interface ServerPlace {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** The data folder was made now (nothing to reuse). */
  readonly newData: boolean;
  readonly timeoutMs: number;
}

/** The installed program of a NATS or Redis server for `url`, and its folder (made) and log file under `.orderly/`. */
function serverFolder(
  kind: "nats" | "redis",
  programName: string,
  url: string,
  options: StartOptions,
): { program: string; where: ServerPlace } {
  const program = options.installed[kind];
  if (!program) throw new Error(`${programName} is not installed`);
  const { host, port } = addressOf(url);
  const dataDir = join(options.dataDir, kind);
  const newData = !existsSync(dataDir);
  mkdirSync(dataDir, { recursive: true });
  const logFile = join(options.dataDir, "logs", `${kind}.log`);
  return { program, where: { host, port, dataDir, logFile, newData, timeoutMs: options.timeoutMs ?? 15_000 } };
}

async function spawnServer(
  kind: ServerKind,
  program: string,
  args: string[],
  where: ServerPlace,
): Promise<ServerRecord> {
  // Own process group, no pipes: it outlives the stack with --keep-servers, and a Ctrl-C reaches only the stack.
  const child = spawn(program, args, { detached: true, stdio: "ignore" });
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.once("error", (error) => {
    exited = error.message;
  });
  child.unref();
  const deadline = Date.now() + where.timeoutMs;
  while (!(await accepts(where.host, where.port))) {
    if (exited !== undefined || Date.now() > deadline) {
      if (exited === undefined) child.kill("SIGKILL");
      throw new Error(
        `${program} ${exited ? `exited (${exited})` : `did not accept connections within ${where.timeoutMs} ms`}\n${tail(where.logFile)}`,
      );
    }
    await sleep(50);
  }
  return {
    kind,
    host: where.host,
    port: where.port,
    pid: child.pid ?? 0,
    dataDir: where.dataDir,
    logFile: where.logFile,
    program,
    startedAt: new Date().toISOString(),
    newData: where.newData,
  };
}

/** True when something accepts a TCP connection at host:port. */
export function accepts(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

export interface StopResult {
  readonly record: ServerRecord;
  /** "stopped", "not running" (already gone), or why it could not be stopped. */
  readonly outcome: string;
}

/**
 * Stops the recorded servers of the data folder (all, or those of `kinds`), each the way it stops cleanly
 * (`pg_ctl stop -m fast`, SIGTERM for NATS and Redis, SIGKILL after `timeoutMs`), and forgets them.
 */
export async function stopServers(
  dataDir: string,
  options: { kinds?: readonly ServerKind[]; timeoutMs?: number } = {},
): Promise<StopResult[]> {
  const records = readRecords(dataDir).filter((r) => !options.kinds || options.kinds.includes(r.kind));
  const results = await Promise.all(records.map((r) => stopOne(r, options.timeoutMs ?? 15_000)));
  const stopped = new Set(
    results.filter((r) => r.outcome === "stopped" || r.outcome === "not running").map((r) => r.record.kind),
  );
  writeRecords(
    dataDir,
    readRecords(dataDir).filter((r) => !stopped.has(r.kind)),
  );
  return results;
}

async function stopOne(record: ServerRecord, timeoutMs: number): Promise<StopResult> {
  if (!isOurs(record)) return { record, outcome: "not running" };
  if (record.kind === "postgres") {
    const args = ["stop", "-D", record.dataDir, "-m", "fast", "-w", "-t", String(Math.ceil(timeoutMs / 1000))];
    try {
      if (record.runAs) execFileSync("runuser", ["-u", record.runAs, "--", record.program, ...args], execOptions);
      else execFileSync(record.program, args, execOptions);
    } catch (error) {
      if (isOurs(record)) return { record, outcome: `pg_ctl stop failed: ${outputOf(error)}` };
    }
    return { record, outcome: "stopped" };
  }
  process.kill(record.pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (alive(record.pid) && Date.now() < deadline) await sleep(50);
  if (alive(record.pid)) {
    process.kill(record.pid, "SIGKILL");
    await sleep(100);
    return { record, outcome: "stopped (SIGKILL: it did not stop within the timeout)" };
  }
  return { record, outcome: "stopped" };
}

/** Its process still runs, and it is still that program (a pid can be reused). */
function isOurs(record: ServerRecord): boolean {
  if (record.kind === "postgres") {
    const pidFile = join(record.dataDir, "postmaster.pid");
    if (!existsSync(pidFile)) return false;
    const pid = Number.parseInt(readFileSync(pidFile, "utf8").split("\n")[0] ?? "", 10);
    return alive(pid);
  }
  if (!alive(record.pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, "utf8");
    return cmdline.includes(record.program.split("/").pop() ?? record.program);
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
}

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

const execOptions = { encoding: "utf8" as const, stdio: ["ignore", "pipe", "pipe"] as ["ignore", "pipe", "pipe"] };

function outputOf(error: unknown): string {
  const e = error as { stderr?: string; stdout?: string; message?: string };
  return (e.stderr || e.stdout || e.message || String(error)).trim();
}

/** The last lines of a server's log, to show when it failed to start. */
function tail(file: string, lines = 8): string {
  try {
    if (statSync(file).size === 0) return "";
    const text = readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines);
    return `  last lines of ${file}:\n${text.map((l) => `    ${l}`).join("\n")}`;
  } catch {
    return "";
  }
}

/**
 * The checkout's data folder: `ORDERLY_DATA_DIR` when set (tests use a temporary one), else `<checkout>/.orderly`.
 */
export function resolveDataDir(env: Record<string, string | undefined>, checkoutRoot: string): string {
  const raw = env.ORDERLY_DATA_DIR?.trim();
  return raw ? resolve(raw) : join(checkoutRoot, ".orderly");
}
