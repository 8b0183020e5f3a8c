import pg from "pg";

export interface HealthWatchOptions {
  /** True when the dependency is usable. A throw counts as false. */
  readonly check: () => Promise<boolean> | boolean;
  /** Called with the new state each time it changes (not for the first check when it agrees with `initial`). */
  readonly onChange: (healthy: boolean) => void;
  /** Pause between the end of one check and the start of the next (default 1000 ms). */
  readonly intervalMs?: number;
  /** The state assumed before the first check (default true: the process checked its dependencies at start). */
  readonly initial?: boolean;
}

export interface HealthWatch {
  readonly healthy: boolean;
  /** No more checks; a check in progress is ignored when it ends. */
  stop(): void;
}

/**
 * Runs `check` in a loop (never two at once) and reports changes: what turns a gRPC server's grpc.health.v1 and an
 * ops server's /readyz from SERVING to NOT_SERVING and back when a dependency goes away and returns.
 */
export function watchHealth(options: HealthWatchOptions): HealthWatch {
  const intervalMs = options.intervalMs ?? 1000;
  let healthy = options.initial ?? true;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    let now: boolean;
    try {
      now = (await options.check()) === true;
    } catch {
      now = false;
    }
    if (stopped) return;
    if (now !== healthy) {
      healthy = now;
      options.onChange(now);
    }
    timer = setTimeout(() => void run(), intervalMs);
    timer.unref();
  };
  timer = setTimeout(() => void run(), 0);
  timer.unref();
  return {
    get healthy() {
      return healthy;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export interface PostgresProbeOptions {
  /** Bound on connecting and on the probe query (default 2000 ms): a hung server counts as down. */
  readonly timeoutMs?: number;
  readonly applicationName?: string;
}

/**
 * `select 1` over a connection of its own (a busy pool must not make a healthy server look down), kept open between
 * checks and replaced after any failure.
 */
export class PostgresProbe {
  readonly #url: string;
  readonly #timeoutMs: number;
  readonly #applicationName: string;
  #client: pg.Client | undefined;
  #closed = false;

  constructor(url: string, options: PostgresProbeOptions = {}) {
    this.#url = url;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#applicationName = options.applicationName ?? "orderly health probe";
  }

  /** True when Postgres answered `select 1` within the timeout. Never throws. */
  async check(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      if (this.#client === undefined) {
        const client = new pg.Client({
          connectionString: this.#url,
          connectionTimeoutMillis: this.#timeoutMs,
          query_timeout: this.#timeoutMs,
          application_name: this.#applicationName,
        });
        client.on("error", () => this.#drop(client));
        this.#client = client;
        await client.connect();
      }
      await this.#client.query("select 1");
      return true;
    } catch {
      if (this.#client) this.#drop(this.#client);
      return false;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  #drop(client: pg.Client): void {
    if (this.#client === client) this.#client = undefined;
    // Not awaited: over a hung connection the goodbye may never be answered.
    void client.end().catch(() => {});
  }
}
