import { connect as connectNats } from "@nats-io/transport-node";
import pg from "pg";
import { natsServers, type StackConfig } from "./config.js";
import type { NatsLinkOptions, RedisLinkOptions } from "./links.js";
import { createRedisClient, withRedisCause } from "./redis-client.js";

export type DependencyName = "Postgres" | "NATS" | "Redis";

/** The oldest Postgres major version the migrations run on (gen_random_uuid() is built in from 13). */
export const oldestPostgresMajor = 13;

/**
 * Why a dependency counts as down, each with its own fix:
 * - `not-listening`: nothing accepts connections at the address (ECONNREFUSED);
 * - `auth-refused`: the server answered and refused the user or the password;
 * - `no-jetstream`: a NATS server without JetStream (`-js`);
 * - `too-old`: a Postgres older than {@link oldestPostgresMajor};
 * - `unreachable`: anything else (no answer in time, DNS, TLS, ...).
 */
export type DownKind = "not-listening" | "auth-refused" | "no-jetstream" | "too-old" | "unreachable";

export interface DependencyStatus {
  readonly name: DependencyName;
  /** The URL tried, with any password masked. */
  readonly url: string;
  readonly up: boolean;
  /** Why it counts as down, as a kind (see {@link DownKind}) and as the driver's words. */
  readonly kind?: DownKind;
  readonly error?: string;
  /** The server's version when it answered (Postgres: e.g. "15.20"). */
  readonly version?: string;
  /** A command that starts it on a machine like this one. */
  readonly howToStart: string;
}

export interface DependencyReport {
  readonly ok: boolean;
  readonly results: readonly DependencyStatus[];
  /** Empty when ok; otherwise one paragraph per dependency that is down: which, where, why, how to start it. */
  readonly message: string;
}

export const howToStart: Record<DependencyName, string> = {
  Postgres: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
  NATS: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
  Redis:
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
};

const envOf: Record<DependencyName, string> = { Postgres: "DATABASE_URL", NATS: "NATS_URL", Redis: "REDIS_URL" };

/** Tries Postgres, NATS and Redis at once (each with a real handshake); never throws. */
export async function checkDependencies(
  config: Pick<StackConfig, "databaseUrl" | "natsUrl" | "redisUrl"> & Partial<Pick<StackConfig, "nats" | "redis">>,
  options: { timeoutMs?: number } = {},
): Promise<DependencyReport> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const results = await Promise.all([
    probe("Postgres", config.databaseUrl, () => probePostgres(config.databaseUrl, timeoutMs), timeoutMs),
    probe("NATS", config.natsUrl, () => probeNats(config.natsUrl, timeoutMs, config.nats), timeoutMs),
    probe("Redis", config.redisUrl, () => probeRedis(config.redisUrl, timeoutMs, config.redis), timeoutMs),
  ]);
  const down = results.filter((r) => !r.up);
  const message = down.map(describeDown).join("\n");
  return { ok: down.length === 0, results, message };
}

/** One paragraph: what is wrong with a dependency that is down, where, and the generic fix for its kind. */
export function describeDown(r: DependencyStatus): string {
  const variable = envOf[r.name];
  switch (r.kind) {
    case "auth-refused":
      return (
        `${r.name} at ${r.url} (${variable}) refused the connection's credentials: ${r.error}\n` +
        `  fix: put a user (and password) it accepts into ${variable}, or allow this user in the server's configuration.`
      );
    case "no-jetstream":
      return (
        `NATS at ${r.url} (${variable}) runs without JetStream, which Orderly needs for its event stream.\n` +
        "  fix: restart nats-server with JetStream on (`nats-server -js -sd <store dir>`, or `jetstream {}` in its config)."
      );
    case "too-old":
      return (
        `Postgres at ${r.url} (${variable}) is version ${r.version}; Orderly needs Postgres ${oldestPostgresMajor} or newer.\n` +
        `  fix: upgrade it, or point ${variable} at a Postgres ${oldestPostgresMajor}+.`
      );
    default:
      return (
        `${r.name} is not reachable at ${r.url} (${variable}): ${r.error}\n` +
        `  start it with: ${r.howToStart}\n` +
        `  or point ${variable} at a running ${r.name}.`
      );
  }
}

/**
 * A service's one-line account of a failed first connection: refused credentials are said as such (not as "not
 * reachable"), and every case names the variable to change.
 */
export function connectionProblem(name: DependencyName, url: string, error: unknown): string {
  const variable = envOf[name];
  const where = `${maskPassword(url)} (${variable})`;
  switch (classify(error)) {
    case "auth-refused":
      return `${name} at ${where} refused the credentials: ${describe(error)}; put a user (and password) it accepts into ${variable}`;
    case "not-listening":
      return `${name} is not running at ${where}: ${describe(error)}; start it (\`pnpm start\` runs its own), or set ${variable}`;
    default:
      return `${name} is not reachable at ${where}: ${describe(error)}`;
  }
}

/** The variable that configures a dependency's URL. */
export function urlVariable(name: DependencyName): string {
  return envOf[name];
}

async function probe(
  name: DependencyName,
  url: string,
  attempt: () => Promise<string | undefined>,
  timeoutMs: number,
): Promise<DependencyStatus> {
  const shown = maskPassword(url);
  let timer: NodeJS.Timeout | undefined;
  try {
    const version = await Promise.race([
      attempt(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs + 500);
      }),
    ]);
    return { name, url: shown, up: true, howToStart: howToStart[name], ...(version ? { version } : {}) };
  } catch (error) {
    const version = error instanceof DownError ? error.version : undefined;
    return {
      name,
      url: shown,
      up: false,
      kind: classify(error),
      error: describe(error),
      howToStart: howToStart[name],
      ...(version ? { version } : {}),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A probe's finding that is not a driver error (a server too old, NATS without JetStream). */
class DownError extends Error {
  constructor(
    readonly kind: DownKind,
    message: string,
    readonly version?: string,
  ) {
    super(message);
  }
}

function classify(error: unknown): DownKind {
  if (error instanceof DownError) return error.kind;
  if (error instanceof AggregateError) {
    const kinds = error.errors.map(classify);
    return kinds.every((k) => k === "not-listening") && kinds.length > 0 ? "not-listening" : "unreachable";
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  const text = error instanceof Error ? error.message : String(error);
  // 28P01 wrong password, 28000 no pg_hba entry / no such role / no user name (USER unset with a URL without user).
  if (code === "28P01" || code === "28000") return "auth-refused";
  if (code === "ECONNREFUSED" || /ECONNREFUSED/.test(text)) return "not-listening";
  if (/authorization violation|authentication|NOAUTH|WRONGPASS|invalid username-password/i.test(text)) {
    return "auth-refused";
  }
  // nats.js reports a refused TCP connection as CONNECTION_REFUSED without the errno.
  if (/CONNECTION_REFUSED/i.test(String(code)) || /connection refused/i.test(text)) return "not-listening";
  return "unreachable";
}

async function probePostgres(url: string, timeoutMs: number, admin = false): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    // The server answered; the database itself is created at start-up (ensureDatabase): ask `postgres` its version.
    if ((error as { code?: unknown }).code !== "3D000") throw error;
    if (admin) return undefined;
    const other = new URL(url);
    other.pathname = "/postgres";
    return probePostgres(other.toString(), timeoutMs, true);
  }
  try {
    const { rows } = await client.query<{ v: string; n: string }>(
      "select current_setting('server_version') as v, current_setting('server_version_num') as n",
    );
    const version = rows[0]?.v.split(" ")[0] ?? "?";
    if (Number(rows[0]?.n ?? 0) < oldestPostgresMajor * 10_000) {
      throw new DownError("too-old", `Postgres ${version} is older than ${oldestPostgresMajor}`, version);
    }
    return version;
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeNats(url: string, timeoutMs: number, link?: NatsLinkOptions): Promise<string | undefined> {
  const nc = await connectNats({
    servers: natsServers(url),
    ...link,
    timeout: timeoutMs,
    reconnect: false,
    name: "orderly-dependency-check",
  });
  try {
    await nc.flush();
    // A server without JetStream has no responder for the JetStream API.
    try {
      await nc.request("$JS.API.INFO", undefined, { timeout: timeoutMs });
    } catch (error) {
      const text = `${(error as { code?: unknown }).code ?? ""} ${(error as Error).message}`;
      if (/no responders|503/i.test(text)) throw new DownError("no-jetstream", "JetStream is not enabled");
      throw error;
    }
    return nc.info?.version;
  } finally {
    await nc.close();
  }
}

async function probeRedis(url: string, timeoutMs: number, link?: RedisLinkOptions): Promise<string | undefined> {
  try {
    return await probeRedisOnce(url, timeoutMs, link);
  } catch (error) {
    if (link?.cluster !== true) throw error;
    // ioredis' Cluster does not keep why its nodes failed (a certificate, a refused connection: "Connection is
    // closed."): ask the first seed alone, which says; when it answers, the cluster itself is the problem.
    const seed = url.split(",")[0]?.trim() ?? url;
    await probeRedisOnce(seed, timeoutMs, link.tls === undefined ? {} : { tls: link.tls });
    throw error;
  }
}

async function probeRedisOnce(url: string, timeoutMs: number, link?: RedisLinkOptions): Promise<undefined> {
  const redis = createRedisClient(url, link, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // ioredis rejects connect() with "Connection is closed."; the reason (ECONNREFUSED, ...) comes as an error event.
  let cause: unknown;
  redis.on("error", (error: unknown) => {
    cause ??= error;
  });
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    throw withRedisCause(cause ?? error);
  } finally {
    redis.disconnect();
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(describe))].join("; ");
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const text = error.message || error.name;
    return typeof code === "string" && !text.includes(code) ? `${code}: ${text}` : text;
  }
  return String(error);
}

/**
 * The URL with its secrets replaced by `***`, safe to log: the password, a NATS token (a user name without a password),
 * and `password` / `sslpassword` query parameters (libpq's). Unparseable text is not shown at all.
 */
export function maskPassword(url: string): string {
  // NATS_URL may list a cluster's servers, each with its credentials.
  if (url.includes(",")) return url.split(",").map(maskPassword).join(",");
  try {
    const parsed = new URL(url);
    let changed = false;
    if (parsed.password !== "") {
      parsed.password = "***";
      changed = true;
    } else if (parsed.username !== "" && /^(nats|tls):$/.test(parsed.protocol)) {
      parsed.username = "***";
      changed = true;
    }
    for (const key of ["password", "sslpassword"]) {
      if (parsed.searchParams.has(key)) {
        parsed.searchParams.set(key, "***");
        changed = true;
      }
    }
    return changed ? parsed.toString() : url;
  } catch {
    return url.includes("@") ? "(a URL that cannot be parsed; not shown: it may hold a password)" : url;
  }
}

// One probe per server and one way to say why it failed, shared with the start-up wait (startup.ts).
export { describe as describeError, probeNats, probePostgres, probeRedis };
