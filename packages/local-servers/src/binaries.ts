import { execFileSync } from "node:child_process";
import { accessSync, constants, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";

export type ServerKind = "postgres" | "nats" | "redis";

/** The installed Postgres programs this machine has (all from one bin directory) and their version. */
export interface PostgresBinaries {
  readonly dir: string;
  readonly initdb: string;
  readonly pgCtl: string;
  readonly postgres: string;
  /** e.g. "15.20" */
  readonly version: string;
  readonly major: number;
}

export interface InstalledServers {
  readonly postgres?: PostgresBinaries;
  readonly nats?: string;
  readonly redis?: string;
}

type Env = Record<string, string | undefined>;

/**
 * Where to look: `ORDERLY_SERVER_PATH` alone when set (a colon-separated list of directories; tests and people who
 * want one particular version use it), otherwise PATH, then the places packages install servers without putting
 * them on PATH (Debian's /usr/lib/postgresql/<version>/bin, newest first; Homebrew's keg-only postgresql@N).
 */
export function searchDirs(env: Env): string[] {
  const override = env.ORDERLY_SERVER_PATH;
  if (override !== undefined) return override.split(delimiter).filter(Boolean);
  const dirs = (env.PATH ?? "").split(delimiter).filter(Boolean);
  dirs.push(...versionedDirs("/usr/lib/postgresql", "bin"));
  for (const prefix of ["/opt/homebrew/opt", "/usr/local/opt"]) {
    dirs.push(
      ...listDir(prefix)
        .filter((n) => /^postgresql(@\d+)?$/.test(n))
        .sort(byVersionDesc)
        .map((n) => join(prefix, n, "bin")),
    );
  }
  dirs.push("/usr/sbin", "/usr/local/sbin");
  return [...new Set(dirs)];
}

/** Finds initdb + pg_ctl + postgres (in one directory), nats-server and redis-server. */
export function findInstalledServers(env: Env): InstalledServers {
  const dirs = searchDirs(env);
  let postgres: PostgresBinaries | undefined;
  for (const dir of dirs) {
    const initdb = executable(join(dir, "initdb"));
    const pgCtl = executable(join(dir, "pg_ctl"));
    const server = executable(join(dir, "postgres"));
    if (!initdb || !pgCtl || !server) continue;
    const version = versionOf(server, /(\d+(?:\.\d+)?)/);
    if (!version) continue;
    postgres = { dir, initdb, pgCtl, postgres: server, version, major: Number.parseInt(version, 10) };
    break;
  }
  const nats = first(dirs, "nats-server");
  const redis = first(dirs, "redis-server");
  return { ...(postgres ? { postgres } : {}), ...(nats ? { nats } : {}), ...(redis ? { redis } : {}) };
}

function first(dirs: readonly string[], name: string): string | undefined {
  for (const dir of dirs) {
    const found = executable(join(dir, name));
    if (found) return found;
  }
  return undefined;
}

function executable(path: string): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

/** `postgres --version` → "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" → "15.20". */
function versionOf(binary: string, pattern: RegExp): string | undefined {
  try {
    const out = execFileSync(binary, ["--version"], {
      encoding: "utf8",
      timeout: 5_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return pattern.exec(out.replace(/^[^)]*\)/, ""))?.[1];
  } catch {
    return undefined;
  }
}

function versionedDirs(root: string, sub: string): string[] {
  return listDir(root)
    .filter((n) => /^\d+(\.\d+)?$/.test(n))
    .sort(byVersionDesc)
    .map((n) => join(root, n, sub));
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function byVersionDesc(a: string, b: string): number {
  const num = (s: string) => Number.parseFloat(s.replace(/^\D+/, "")) || 0;
  return num(b) - num(a);
}
