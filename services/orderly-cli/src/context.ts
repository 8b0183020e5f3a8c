import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createPool } from "@orderly/event-store-postgres";
import { createRedisClient, maskPassword, type StackConfig, withRedisCause } from "@orderly/observability";
import type { Logger, UnknownEventTypes } from "@orderly/projector";
import type { Redis } from "ioredis";
import type pg from "pg";
import { CommandFailedError } from "./command.js";
import type { Progress } from "./progress.js";

/**
 * What a subcommand gets: the stack's configuration (read once, in `main`) and connections opened on first use and
 * closed when the command ends. A server that cannot be reached is a CommandFailedError naming it (exit 2), unless
 * the command catches it to report the component as down.
 */
export interface CliContext {
  readonly stack: StackConfig;
  /** What a rebuild does with an event type this release does not know (PROJECTOR_UNKNOWN_EVENT_TYPES). */
  readonly unknownEventTypes: UnknownEventTypes;
  /**
   * For the product code a command runs (a rebuild's one line per skipped unknown type): warnings and errors go to
   * `warn`, also with --json (they are not the command's output); info lines are what the progress bars show.
   */
  readonly logger: Logger;
  /** `--json` was given: no prose, no progress bars. */
  readonly json: boolean;
  progress(label: string, total: number): Progress;
  /** A line for the person at the terminal (stderr; silent with --json). */
  note(message: string): void;
  pool(): Promise<pg.Pool>;
  nats(): Promise<NatsConnection>;
  jsm(): Promise<JetStreamManager>;
  redis(): Promise<Redis>;
}

export interface OpenContextOptions {
  readonly stack: StackConfig;
  /** Default `stop`. */
  readonly unknownEventTypes?: UnknownEventTypes;
  /** Where the logger's warnings and errors go (one line each); default nowhere. */
  readonly warn?: (line: string) => void;
  readonly json: boolean;
  readonly progress: (label: string, total: number) => Progress;
  readonly note: (message: string) => void;
  /** How long a connection attempt may take (default 5 s): an operator waits for the answer. */
  readonly connectTimeoutMs?: number;
}

export interface OpenedContext {
  readonly context: CliContext;
  close(): Promise<void>;
}

export function openContext(options: OpenContextOptions): OpenedContext {
  const timeout = options.connectTimeoutMs ?? 5_000;
  const { stack } = options;
  let pool: Promise<pg.Pool> | undefined;
  let nats: Promise<NatsConnection> | undefined;
  let jsm: Promise<JetStreamManager> | undefined;
  let redis: Promise<Redis> | undefined;
  const warn = options.warn ?? (() => {});
  const line = (obj: object, msg?: string) => warn(`${msg ?? ""} ${JSON.stringify(obj)}`);
  const context: CliContext = {
    stack,
    unknownEventTypes: options.unknownEventTypes ?? "stop",
    logger: { info: () => {}, warn: line, error: line },
    json: options.json,
    progress: options.progress,
    note: (message) => {
      if (!options.json) options.note(message);
    },
    pool() {
      pool ??= (async () => {
        const p = createPool(stack.databaseUrl, { max: 4, connectionTimeoutMillis: timeout });
        try {
          await p.query("select 1");
          return p;
        } catch (error) {
          await p.end().catch(() => undefined);
          throw new CommandFailedError(`Postgres at ${maskPassword(stack.databaseUrl)}: ${(error as Error).message}`, {
            cause: error,
          });
        }
      })();
      return pool;
    },
    nats() {
      nats ??= connect({ ...stack.nats, timeout, name: "orderly-cli", maxReconnectAttempts: 0 }).catch(
        (error: unknown) => {
          throw new CommandFailedError(`NATS at ${maskPassword(stack.natsUrl)}: ${(error as Error).message}`, {
            cause: error,
          });
        },
      );
      return nats;
    },
    jsm() {
      jsm ??= context.nats().then((nc) => jetstreamManager(nc, { timeout }));
      return jsm;
    },
    redis() {
      redis ??= (async () => {
        const r = createRedisClient(stack.redisUrl, stack.redis, {
          lazyConnect: true,
          connectTimeout: timeout,
          maxRetriesPerRequest: 1,
          retryStrategy: () => null,
        });
        r.on("error", () => {});
        try {
          await r.connect();
          return r;
        } catch (error) {
          r.disconnect();
          throw new CommandFailedError(
            `Redis at ${maskPassword(stack.redisUrl)}: ${(withRedisCause(error) as Error).message}`,
            {
              cause: error,
            },
          );
        }
      })();
      return redis;
    },
  };
  return {
    context,
    async close() {
      const opened = async <T>(p: Promise<T> | undefined): Promise<T | undefined> => p?.catch(() => undefined);
      const [p, n, r] = await Promise.all([opened(pool), opened(nats), opened(redis)]);
      await Promise.allSettled([p?.end(), n?.drain(), r?.quit()]);
    },
  };
}
