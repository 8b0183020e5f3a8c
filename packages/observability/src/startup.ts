import { setTimeout as sleep } from "node:timers/promises";
import { backoffDelay } from "@orderly/retry";
import pg from "pg";
import { ConfigError, readInteger } from "./config.js";
import { describeError, maskPassword, probeNats, probePostgres, probeRedis } from "./dependencies.js";
import type { NatsLinkOptions, RedisLinkOptions } from "./links.js";

/**
 * Waiting for dependencies at start (issue 13): started side by side, as a container platform does, a service waits
 * for what it needs (the database, NATS, Redis) with backoff, for a bounded time, reporting NOT_SERVING meanwhile
 * (its caller's health says so), and gives up with one message that names the dependency and why.
 */
export interface StartupDependency {
  /** In words, with where and which variable: `Postgres database "orderly" at postgres://… (DATABASE_URL)`. */
  readonly name: string;
  /** One attempt, bounded in time by the check itself: resolves when usable, rejects with why not. */
  check(): Promise<void>;
  /** What makes it appear, for the give-up message ("start the command service, which creates it"). */
  readonly hint?: string;
}

export interface WaitForDependenciesOptions {
  /** How long to wait in all (ORDERLY_STARTUP_TIMEOUT_MS; `readStartupTimeoutMs`). */
  readonly timeoutMs: number;
  readonly logger: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** Stops the wait (shutdown): rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** First pause after a failed check (default 200 ms); doubles up to `maxDelayMs` (default 5,000 ms). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** After the first line per dependency, "still waiting" at most this often (default 15,000 ms). */
  readonly logEveryMs?: number;
}

/** A dependency did not become usable within the start-up timeout. */
export class StartupTimeoutError extends Error {
  constructor(
    readonly dependency: string,
    readonly reason: string,
    readonly waitedMs: number,
    hint: string | undefined,
  ) {
    super(
      `gave up after ${Math.round(waitedMs / 1000)} s waiting for ${dependency}: ${reason}` +
        `${hint ? `; ${hint}` : ""} (ORDERLY_STARTUP_TIMEOUT_MS sets how long to wait)`,
    );
    this.name = "StartupTimeoutError";
  }
}

export const defaultStartupTimeoutMs = 60_000;

/** ORDERLY_STARTUP_TIMEOUT_MS: how long a service waits for its dependencies at start (default 60,000; 0 = one try). */
export function readStartupTimeoutMs(env: Record<string, string | undefined>): number {
  const problems: string[] = [];
  const value = readInteger(env, "ORDERLY_STARTUP_TIMEOUT_MS", defaultStartupTimeoutMs, 0, 86_400_000, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return value;
}

/**
 * Resolves once every dependency's check passed (each waits on its own, so the log names all that are missing);
 * rejects with a StartupTimeoutError naming the first that did not come in time. Logs what it waits for once, then at
 * most every `logEveryMs`, and when it came.
 */
export async function waitForDependencies(
  dependencies: readonly StartupDependency[],
  options: WaitForDependenciesOptions,
): Promise<void> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const baseMs = options.baseDelayMs ?? 200;
  const maxMs = options.maxDelayMs ?? 5_000;
  const logEveryMs = options.logEveryMs ?? 15_000;
  const gaveUp = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, gaveUp.signal]) : gaveUp.signal;

  const waitFor = async (dependency: StartupDependency): Promise<void> => {
    let loggedAt = 0;
    let lastReason = "";
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      try {
        await dependency.check();
        if (attempt > 0) {
          const waited = Date.now() - started;
          options.logger.info(
            { dependency: dependency.name, waitedMs: waited },
            `${dependency.name} is ready (after ${(waited / 1000).toFixed(1)} s)`,
          );
        }
        return;
      } catch (error) {
        signal.throwIfAborted();
        const reason = describeError(error);
        const now = Date.now();
        if (now >= deadline) {
          throw new StartupTimeoutError(dependency.name, reason, now - started, dependency.hint);
        }
        if (loggedAt === 0 || now - loggedAt >= logEveryMs || reason !== lastReason) {
          options.logger.warn(
            { dependency: dependency.name, reason, waitedMs: now - started, timeoutMs: options.timeoutMs },
            `${loggedAt === 0 ? "waiting" : "still waiting"} for ${dependency.name}: ${reason}`,
          );
          loggedAt = now;
          lastReason = reason;
        }
        // An aborted sleep rejects with a generic AbortError: rethrow the signal's own reason instead.
        await sleep(Math.min(backoffDelay(attempt, { baseMs, maxMs }), deadline - now), undefined, { signal }).catch(
          () => signal.throwIfAborted(),
        );
      }
    }
  };

  try {
    await Promise.all(dependencies.map(waitFor));
  } catch (error) {
    gaveUp.abort(error);
    throw error;
  }
}

const checkTimeoutMs = 3_000;

/** The Postgres server answers (the database itself may not exist yet: whoever waits creates it). */
export function postgresServer(url: string): StartupDependency {
  return {
    name: `Postgres at ${maskPassword(url)} (DATABASE_URL)`,
    check: async () => {
      await probePostgres(url, checkTimeoutMs);
    },
  };
}

/** The database named in `url` exists and answers (another service creates it and its schema). */
export function postgresDatabase(url: string, hint?: string): StartupDependency {
  const database = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  return {
    name: `Postgres database "${database}" at ${maskPassword(url)} (DATABASE_URL)`,
    ...(hint === undefined ? {} : { hint }),
    check: async () => {
      const client = new pg.Client({
        connectionString: url,
        connectionTimeoutMillis: checkTimeoutMs,
        query_timeout: checkTimeoutMs,
      });
      client.on("error", () => {});
      try {
        await client.connect();
        await client.query("select 1");
      } catch (error) {
        if ((error as { code?: unknown }).code === "3D000")
          throw new Error(`database "${database}" does not exist yet`);
        throw error;
      } finally {
        await client.end().catch(() => {});
      }
    },
  };
}

export function natsServer(url: string, link?: NatsLinkOptions): StartupDependency {
  return {
    name: `NATS at ${maskPassword(url)} (NATS_URL)`,
    check: async () => {
      await probeNats(url, checkTimeoutMs, link);
    },
  };
}

export function redisServer(url: string, link?: RedisLinkOptions): StartupDependency {
  return {
    name: `Redis at ${maskPassword(url)} (REDIS_URL)`,
    check: async () => {
      await probeRedis(url, checkTimeoutMs, link);
    },
  };
}
