import { connect as connectNats } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import pg from "pg";
import type { StackConfig } from "./config.js";

export type DependencyName = "Postgres" | "NATS" | "Redis";

export interface DependencyStatus {
  readonly name: DependencyName;
  /** The URL tried, with any password masked. */
  readonly url: string;
  readonly up: boolean;
  /** Why it counts as down. */
  readonly error?: string;
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
  config: Pick<StackConfig, "databaseUrl" | "natsUrl" | "redisUrl">,
  options: { timeoutMs?: number } = {},
): Promise<DependencyReport> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const results = await Promise.all([
    probe("Postgres", config.databaseUrl, () => probePostgres(config.databaseUrl, timeoutMs), timeoutMs),
    probe("NATS", config.natsUrl, () => probeNats(config.natsUrl, timeoutMs), timeoutMs),
    probe("Redis", config.redisUrl, () => probeRedis(config.redisUrl, timeoutMs), timeoutMs),
  ]);
  const down = results.filter((r) => !r.up);
  const message = down
    .map(
      (r) =>
        `${r.name} is not reachable at ${r.url} (${envOf[r.name]}): ${r.error}\n` +
        `  start it with: ${r.howToStart}\n` +
        `  or point ${envOf[r.name]} at a running ${r.name}.`,
    )
    .join("\n");
  return { ok: down.length === 0, results, message };
}

async function probe(
  name: DependencyName,
  url: string,
  attempt: () => Promise<void>,
  timeoutMs: number,
): Promise<DependencyStatus> {
  const shown = maskPassword(url);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      attempt(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs + 500);
      }),
    ]);
    return { name, url: shown, up: true, howToStart: howToStart[name] };
  } catch (error) {
    return { name, url: shown, up: false, error: describe(error), howToStart: howToStart[name] };
  } finally {
    clearTimeout(timer);
  }
}

async function probePostgres(url: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    // The server answered; the database itself is created at start-up (ensureDatabase).
    if ((error as { code?: unknown }).code === "3D000") return;
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeNats(url: string, timeoutMs: number): Promise<void> {
  const nc = await connectNats({
    servers: url,
    timeout: timeoutMs,
    reconnect: false,
    name: "orderly-dependency-check",
  });
  await nc.flush();
  await nc.close();
}

async function probeRedis(url: string, timeoutMs: number): Promise<void> {
  const redis = new Redis(url, {
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
  } catch (error) {
    throw cause ?? error;
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

/** The URL with its password replaced by `***`, safe to log. */
export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}
